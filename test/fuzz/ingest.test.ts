import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Identity, open, seal } from '../../protocols/codec/index.js'
import { makeGrant } from '../../protocols/trust/index.js'
import { silentLogger } from '../../store/logger.js'
import { Ingest } from '../../node/mesh/ingest.js'
import { jobServiceOnDisk } from '../helpers/job-service.js'
import { mutateBytes, mutateValue, randomString, randomValue } from './gen.js'
import { fuzz, SEED, timeLimit } from './harness.js'
import { makeSamples } from './samples.js'
import type { JobService } from '../../node/jobs/job-service.js'
import type { JobServiceOnDisk } from '../helpers/job-service.js'
import type { Prng } from './prng.js'
import type { Samples } from './samples.js'

/**
 * The daemon's one door for peers' messages (node/mesh/ingest.ts), with its real trust state,
 * job store and peer table in LevelDB: every case is a message as a member's gossip or sync would
 * deliver it. Most are properly signed so they get past the signature to the shape and role checks.
 */
describe('fuzz: the ingest handler (what peers send, by gossip or by sync)', () => {
  let parts: JobServiceOnDisk<true> | undefined
  let ingest: Ingest
  let jobs: JobService
  let s: Samples
  let reader: Identity
  let stranger: Identity

  beforeAll(async () => {
    console.log(`[fuzz] seed ${SEED} (set CIT_FUZZ_SEED=${SEED} to replay this run)`)
    s = await makeSamples()
    reader = await Identity.generate()
    stranger = await Identity.generate()
    parts = await jobServiceOnDisk({ prefix: 'cit-fuzz-ingest-', identity: s.admin, trust: s.mesh, mesh: s.mesh.id })
    jobs = parts.jobs
    ingest = new Ingest({ trust: parts.trust, jobs, peers: parts.peers, logger: silentLogger, mesh: s.mesh.id })
    // the member may submit, build and read; `reader` only reads; the stranger is nobody
    for (const [key, roles] of [[s.member, ['submit', 'build', 'read']], [reader, ['read']]] as const) {
      const v = ingest.check(makeGrant(s.admin, s.mesh, key.publicKey, [...roles], {}, s.now - 5000).bytes, 'trust')
      if (!v.ok) throw new Error(`grant refused: ${v.reason}`)
      await ingest.apply(v.value)
    }
  })

  afterAll(async () => {
    await parts?.close()
  })

  /** a message: a sample's payload changed and signed by someone, the sample as is (a replay), or its bytes changed */
  function input (rng: Prng): Uint8Array {
    const base = rng.pick(s.envelopes)
    const r = rng.int(10)
    if (r < 6) {
      const signed = open(base)
      const signer = rng.pick([s.member, s.member, s.member, s.admin, reader, stranger])
      const payload = rng.bool(0.9) ? mutateValue(rng, signed.payload) : randomValue(rng)
      // the job's node and the event's signer must match to get past the role checks: keep them honest mostly
      if (payload != null && typeof payload === 'object' && !Array.isArray(payload) && 'node' in payload && rng.bool(0.7)) (payload as Record<string, unknown>).node = signer.id
      const type = rng.bool(0.9) ? signed.type : rng.pick(['job', 'event', 'load', 'grant', 'revoke', 'enroll', randomString(rng, 5)])
      try { return seal(signer, type, payload).bytes } catch { return base }
    }
    if (r < 8) return mutateBytes(rng, base)
    return base
  }

  it('check() and apply() never throw; every drop is counted under a reason', async () => {
    const kinds = ['job', 'event', 'load', 'trust', 'record'] as const
    const tally = await fuzz('node.ingest', async rng => {
      const bytes = input(rng)
      // mostly the topic its type belongs on, or sync; sometimes the wrong topic
      let natural: typeof kinds[number] = 'record'
      try {
        const t = open(bytes).type
        natural = t === 'job' || t === 'event' || t === 'load' ? t : 'trust'
      } catch {}
      const r = rng.int(10)
      const kind = r < 5 ? natural : r < 8 ? 'record' : rng.pick(kinds)
      const before = ingest.stats()
      if (kind === 'record') {
        await ingest.fromSync(bytes)
      } else {
        const v = ingest.check(bytes, kind)
        if (!v.ok) return v.reason
        await ingest.apply(v.value)
      }
      const after = ingest.stats()
      if (after.accepted > before.accepted) return 'accepted'
      // an event of a job not known yet is held (bounded) until its job arrives, then judged
      if (after.held > before.held) return 'held'
      const grew = Object.keys(after.dropped).find(k => (after.dropped[k] ?? 0) > (before.dropped[k] ?? 0))
      if (grew == null) throw new Error('a message neither accepted nor counted as dropped')
      return grew
    })
    for (const reason of ['accepted', 'malformed', 'bad-signature', 'not-a-member', 'wrong-topic', 'duplicate']) {
      expect(tally.reasons[reason] ?? 0, reason).toBeGreaterThan(0)
    }
    // nothing from the stranger or the read-only key became a job
    for await (const row of jobs.store.list()) expect([s.member.id, s.admin.id]).toContain(row.submitter)
  }, timeLimit(180_000))
})
