import { createHash } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { decodeCbor, encodeCbor, open, recordId, seal } from '../../protocols/codec/index.js'
import { checkGrants, LEASE_GRANT, openLeaseMessage } from '../../protocols/lease/index.js'
import { decodeToken, openRecord } from '../../protocols/trust/index.js'
import { mutateBytes, mutateText, mutateValue, randomCbor, randomString, randomValue, rawCbor } from './gen.js'
import { codes, fuzz, label, SEED, timeLimit } from './harness.js'
import { JOB_ID, makeSamples } from './samples.js'
import type { Prng } from './prng.js'
import type { Samples } from './samples.js'

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b))

let s: Samples

beforeAll(async () => {
  s = await makeSamples()
  console.log(`[fuzz] seed ${SEED} (set CIT_FUZZ_SEED=${SEED} to replay this run)`)
})

/** the same envelope with one field of its map changed, the signature kept (or the whole map fuzzed) */
function mutateEnvelope (rng: Prng, bytes: Uint8Array): Uint8Array {
  const env = decodeCbor(bytes, 1 << 20) as Record<string, unknown>
  try {
    return encodeCbor(mutateValue(rng, env))
  } catch {
    return bytes
  }
}

/** a payload of the sample's kind with one change, signed properly: gets past the signature to the payload's checks */
function resign (rng: Prng, bytes: Uint8Array): Uint8Array {
  const signed = open(bytes)
  const signer = rng.bool(0.8) ? s.member : s.admin
  return seal(signer, rng.bool(0.9) ? signed.type : rng.pick(['job', 'event', 'grant', 'lease', randomString(rng, 4)]), mutateValue(rng, signed.payload)).bytes
}

/** the generic mix: random bytes, raw CBOR, random CBOR, byte mutations, map mutations, re-signed payloads */
function wireInput (rng: Prng, valid: Uint8Array[]): Uint8Array {
  const base = rng.pick(valid)
  const r = rng.int(100)
  if (r < 10) return rng.bytes(rng.size(512))
  if (r < 20) return rawCbor(rng)
  if (r < 30) return randomCbor(rng)
  if (r < 31) return rng.bytes(256 * 1024 + 1 + rng.int(1024))
  if (r < 55) return mutateBytes(rng, base)
  if (r < 75) return mutateEnvelope(rng, base)
  return resign(rng, base)
}

describe('fuzz: the codec and the signed records', () => {
  it('open(): random and mutated envelopes only ever give ERR_MALFORMED, ERR_TOO_LARGE, ERR_NON_CANONICAL or ERR_BAD_SIGNATURE', async () => {
    const tally = await fuzz('codec.open', rng => {
      const bytes = wireInput(rng, s.envelopes)
      const signed = open(bytes)
      // what opens is the one encoding of what it says, and its id is that of the signed content
      if (!Buffer.from(encodeCbor(decodeCbor(bytes, bytes.byteLength))).equals(bytes)) throw new Error('a non-canonical envelope opened')
      if (signed.hash !== recordId(bytes)) throw new Error('hash is not the id of the signed content')
      return 'accepted'
    }, { allowed: codes('ERR_MALFORMED', 'ERR_TOO_LARGE', 'ERR_NON_CANONICAL', 'ERR_BAD_SIGNATURE') })
    expect(tally.reasons.ERR_MALFORMED).toBeGreaterThan(0)
    expect(tally.reasons.ERR_BAD_SIGNATURE).toBeGreaterThan(0)
    expect(tally.reasons.ERR_TOO_LARGE).toBeGreaterThan(0)
    expect(tally.heapGrowthBytes).toBeLessThan(256 * 1024 * 1024)
  }, timeLimit(120_000))

  it('openRecord(): grants, revocations and enrollments, mutated and re-signed', async () => {
    const tally = await fuzz('trust.openRecord', rng => {
      const record = openRecord(wireInput(rng, s.records))
      return `accepted ${record.kind}`
    }, { allowed: codes('ERR_MALFORMED', 'ERR_TOO_LARGE', 'ERR_NON_CANONICAL', 'ERR_BAD_SIGNATURE') })
    expect(tally.reasons.ERR_MALFORMED).toBeGreaterThan(0)
    expect(tally.reasons.ERR_BAD_SIGNATURE).toBeGreaterThan(0)
  }, timeLimit(120_000))

  it('decodeToken(): garbled, re-encoded and random join tokens only ever give ERR_BAD_TOKEN', async () => {
    const body = Buffer.from(s.token.slice(4), 'base64url')
    const value = decodeCbor(body.subarray(0, body.byteLength - 4), 1 << 16)
    // a token whose checksum is right for whatever it carries: gets past the transport checks
    const rewrap = (v: unknown): string => {
      const cbor = encodeCbor(v)
      const sum = createHash('sha256').update(cbor).digest().subarray(0, 4)
      return 'cit1' + Buffer.concat([cbor, sum]).toString('base64url')
    }
    const tally = await fuzz('trust.decodeToken', rng => {
      const r = rng.int(10)
      let text: string
      if (r < 3) text = mutateText(rng, s.token)
      else if (r < 7) text = rewrap(mutateValue(rng, value))
      else if (r < 8) text = rewrap(randomValue(rng))
      else if (r < 9) text = 'cit1' + Buffer.from(rng.bytes(rng.size(2000))).toString('base64url')
      else text = randomString(rng, rng.size(12_000))
      decodeToken(text, s.now)
      return 'accepted'
    }, { allowed: err => codes('ERR_BAD_TOKEN')(err) != null ? `ERR_BAD_TOKEN: ${label((err as Error).message.replace(/^bad join token: /, ''))}` : undefined })
    expect(Object.keys(tally.reasons).some(k => k.startsWith('ERR_BAD_TOKEN'))).toBe(true)
  }, timeLimit(120_000))

  it('openLeaseMessage() and checkGrants(): tampered, re-signed and malformed lease messages give ERR_INVALID_LEASE with a reason, and never count as a grant', async () => {
    const grant = open(s.lease).payload as Record<string, unknown>
    const byReason = (err: unknown): string | undefined => codes('ERR_INVALID_LEASE')(err) != null ? `ERR_INVALID_LEASE ${(err as { reason: string }).reason}` : undefined
    const subject = { mesh: String(grant.mesh), job: JOB_ID, epoch: 1, acceptors: [s.member.id] }
    const tally = await fuzz('lease.openLeaseMessage', rng => {
      const r = rng.int(10)
      let value: Uint8Array
      if (r < 3) value = wireInput(rng, [s.lease])
      else if (r < 7) value = seal(rng.bool(0.8) ? s.member : s.admin, rng.pick([LEASE_GRANT, 'lease-req', 'lease-rep', 'lease-vote']), mutateValue(rng, grant)).bytes
      else if (r < 9) {
        // the payload changed under the original signature
        const env = decodeCbor(s.lease, 4096) as Record<string, unknown>
        value = encodeCbor({ ...env, p: encodeCbor(mutateValue(rng, grant)) })
      } else value = s.lease
      openLeaseMessage(value)
      // what opens is a grant only if it is the acceptor's own, for this job and epoch
      const c = checkGrants([value], subject)
      if (c.ok && value !== s.lease && !equalBytes(value, s.lease)) expect((open(value).payload as Record<string, unknown>).job).toBe(JOB_ID)
      return c.ok ? 'accepted' : `refused ${c.reason}`
    }, { allowed: byReason })
    for (const reason of ['bad-signature', 'malformed']) {
      expect(tally.reasons[`ERR_INVALID_LEASE ${reason}`] ?? 0, reason).toBeGreaterThan(0)
    }
  }, timeLimit(120_000))
})
