import { describe, expect, it, beforeAll } from 'vitest'
import { Identity, encodeCbor, seal as sealMessage, sha256Hex } from '../../../protocols/codec/index.js'
import { LEASE_VOTE } from '../../../protocols/lease/constants.js'
import {
  IN_TOTO_PAYLOAD_TYPE, buildStatement, pae, parseEnvelope, sealEnvelope, signPayload, verifyStatement
} from '../../../protocols/provenance/index.js'
import { makeGrant, makeRevoke } from '../../../protocols/trust/index.js'
import { formatReport } from '../../../cli/commands/verify.js'
import { fixture, T0 } from '../trust/fixtures.js'
import type { FinishCertificate, RoleAt, StatementInput } from '../../../protocols/provenance/index.js'
import type { Fixture } from '../trust/fixtures.js'
import type { TrustState } from '../../../protocols/trust/index.js'

const H = (c: string): string => c.repeat(64)
const JOB = H('a')

function input (builder: string, over: Partial<StatementInput> = {}): StatementInput {
  return {
    jobId: JOB,
    name: 'libfoo',
    definition: H('d'),
    params: { TARGET: 'all' },
    submitter: 'submitter-key',
    mesh: H('e'),
    epoch: 3,
    builder,
    labels: ['linux', 'nix'],
    version: '0.1.0',
    startedAt: T0 + 1000,
    finishedAt: T0 + 2000,
    state: 'succeeded',
    log: H('1'),
    artefacts: [{ path: 'dist/libfoo.tgz', sha256: H('2') }],
    outputs: [{ name: 'out', path: '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-libfoo', narHash: `sha256:${'0'.repeat(52)}`, closure: H('3') }],
    ...over
  }
}

const seal = (id: Identity, over: Partial<StatementInput> = {}): Uint8Array =>
  sealEnvelope(id, IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(buildStatement(input(id.id, over)))))

describe('DSSE', () => {
  it('PAE is the specification\'s encoding', () => {
    expect(Buffer.from(pae('http://example.com/HelloWorld', Buffer.from('hello world'))).toString())
      .toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world')
  })

  it('refuses an envelope that is not JSON, has no payload or a malformed signature', () => {
    expect(() => parseEnvelope(Buffer.from('{'))).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED_STATEMENT' }))
    expect(() => parseEnvelope(Buffer.from('{"payloadType":"x","signatures":[]}'))).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED_STATEMENT' }))
    expect(() => parseEnvelope(Buffer.from('{"payloadType":"x","payload":"","signatures":[{"keyid":1}]}'))).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED_STATEMENT' }))
  })
})

describe('verifying a statement against the trust records', () => {
  let f: Fixture
  let builder: Identity
  let other: Identity
  let acceptors: Identity[]
  let state: TrustState
  let roleAt: RoleAt

  beforeAll(async () => {
    f = await fixture()
    builder = await Identity.generate()
    other = await Identity.generate()
    acceptors = [await Identity.generate(), await Identity.generate(), await Identity.generate()]
    state = f.state(T0 + 10_000)
    state.add(makeGrant(f.root, f.mesh, builder.publicKey, ['build'], {}, T0 + 10).bytes)
    state.add(makeGrant(f.root, f.mesh, other.publicKey, ['build'], {}, T0 + 10).bytes)
    for (const a of acceptors) state.add(makeGrant(f.root, f.mesh, a.publicKey, ['read'], {}, T0 + 10).bytes)
    roleAt = (k, r, t) => state.roleAt(k, r, t)
  })

  it('a statement signed by a builder that held build checks out, for each subject it names', () => {
    const env = seal(builder)
    for (const subject of [H('1'), H('2'), H('3'), sha256Hex(env)]) {
      const r = verifyStatement({ envelope: env, subject, roleAt })
      expect(r.problems).toEqual([])
      expect(r.ok).toBe(true)
      expect(r.verified).toEqual([{ keyid: builder.id, as: 'builder', ok: true }])
    }
    expect(verifyStatement({ envelope: env, subject: H('9'), roleAt }).problems[0]).toMatch(/does not name/)
  })

  it('a changed statement, a missing signature and another key\'s signature are each named', () => {
    const env = JSON.parse(Buffer.from(seal(builder)).toString())
    const stmt = JSON.parse(Buffer.from(env.payload, 'base64').toString())
    stmt.predicate.buildDefinition.externalParameters.submitter = 'someone-else'
    const tampered = { ...env, payload: Buffer.from(JSON.stringify(stmt)).toString('base64') }
    const wrong = verifyStatement({ envelope: Buffer.from(JSON.stringify(tampered)), roleAt })
    expect(wrong.ok).toBe(false)
    expect(wrong.verified[0]).toMatchObject({ keyid: builder.id, as: 'builder', ok: false })
    expect(wrong.verified[0].problem).toMatch(/^wrong/)
    const missing = verifyStatement({ envelope: Buffer.from(JSON.stringify({ ...env, signatures: [] })), roleAt })
    expect(missing.verified[0].problem).toMatch(/^missing/)
    // a statement claiming builder B but signed by another member: B's signature is missing
    const payload = Buffer.from(env.payload, 'base64')
    const forged = { ...env, signatures: [signPayload(other, IN_TOTO_PAYLOAD_TYPE, payload)] }
    const r = verifyStatement({ envelope: Buffer.from(JSON.stringify(forged)), roleAt })
    expect(r.ok).toBe(false)
    expect(r.verified.find(v => v.keyid === builder.id)?.problem).toMatch(/^missing/)
  })

  it('a builder that did not hold build then, or whose key was revoked since, does not count', async () => {
    const stranger = await Identity.generate()
    const r = verifyStatement({ envelope: seal(stranger), roleAt })
    expect(r.verified[0].problem).toMatch(/did not hold build/)
    // granted only after the build finished
    const late = await Identity.generate()
    state.add(makeGrant(f.root, f.mesh, late.publicKey, ['build'], {}, T0 + 5000).bytes)
    expect(verifyStatement({ envelope: seal(late), roleAt }).verified[0].problem).toMatch(/did not hold build/)
    // held build, revoked afterwards: what it signed counts for nothing
    const revoked = await Identity.generate()
    state.add(makeGrant(f.root, f.mesh, revoked.publicKey, ['build'], {}, T0 + 10).bytes)
    const env = seal(revoked)
    expect(verifyStatement({ envelope: env, roleAt }).ok).toBe(true)
    state.add(makeRevoke(f.root, f.mesh, revoked.publicKey, T0 + 6000).bytes)
    const after = verifyStatement({ envelope: env, roleAt })
    expect(after.ok).toBe(false)
    expect(after.verified[0].problem).toMatch(/^revoked/)
  })

  it('a finish certificate counter-signs the statement only with a majority of acceptor votes for the result that names it', () => {
    const env = seal(builder)
    const mesh = H('e')
    const content = (statement: string): Uint8Array => encodeCbor({ type: 'finished', state: 'succeeded', result: { state: 'succeeded', exitCode: 0, provenance: statement } })
    // what an acceptor signs when it decides a job's result (protocols/lease/acceptor.ts)
    const vote = (id: Identity, over: Record<string, unknown> = {}, bytes = content(sha256Hex(env))): string =>
      Buffer.from(sealMessage(id, LEASE_VOTE, { mesh, at: T0 + 2000, re: 1, job: JOB, epoch: 3, holder: builder.id, outcome: sha256Hex(bytes), ...over }).bytes).toString('base64')
    const cert = (signers: Identity[], over: Record<string, unknown> = {}, bytes = content(sha256Hex(env))): FinishCertificate => ({
      acceptors: acceptors.map(a => a.id), holder: builder.id, content: Buffer.from(bytes).toString('base64'), votes: signers.map(a => vote(a, over, bytes))
    })
    const ok = verifyStatement({ envelope: env, roleAt, certificate: cert(acceptors.slice(0, 2)) })
    expect(ok.problems).toEqual([])
    expect(ok.verified.filter(v => v.as === 'acceptor' && v.ok)).toHaveLength(2)
    const minority = verifyStatement({ envelope: env, roleAt, certificate: cert(acceptors.slice(0, 1)) })
    expect(minority.ok).toBe(false)
    expect(minority.problems.join()).toMatch(/not a majority/)
    // votes for another job, or for a result that names another statement
    expect(verifyStatement({ envelope: env, roleAt, certificate: cert(acceptors, { job: H('f') }) }).ok).toBe(false)
    const elsewhere = verifyStatement({ envelope: env, roleAt, certificate: cert(acceptors, {}, content(H('9'))) })
    expect(elsewhere.problems.join()).toMatch(/not this statement/)
    // votes for one outcome presented with another result's content
    const swapped = { ...cert(acceptors), content: Buffer.from(content(sha256Hex(env)).subarray(0, 5)).toString('base64') }
    expect(verifyStatement({ envelope: env, roleAt, certificate: swapped }).ok).toBe(false)
    const votesForOther = { ...cert(acceptors), votes: acceptors.map(a => vote(a, { outcome: H('0') })) }
    expect(verifyStatement({ envelope: env, roleAt, certificate: votesForOther }).ok).toBe(false)
    // a signature that does not verify is no vote
    const tampered = cert(acceptors)
    const raw = Buffer.from(tampered.votes[0], 'base64')
    raw[raw.length - 1] ^= 1
    tampered.votes = [raw.toString('base64'), tampered.votes[1]]
    const t = verifyStatement({ envelope: env, roleAt, certificate: tampered })
    expect(t.ok).toBe(false)
    expect(t.verified.some(v => v.as === 'acceptor' && v.problem?.startsWith('wrong'))).toBe(true)
    const outsider = verifyStatement({ envelope: env, roleAt, certificate: { ...cert(acceptors.slice(0, 1)), votes: [vote(acceptors[0]), vote(other)] } })
    expect(outsider.verified.find(v => v.keyid === other.id)?.problem).toMatch(/not one of the job's acceptors/)
    expect(outsider.ok).toBe(false)
  })

  it('a rebuild co-signature counts when another member that held build signed the same statement', () => {
    const env = seal(builder)
    const payload = parseEnvelope(env).payload
    const co = { job: H('b'), at: T0 + 3000, ...signPayload(other, IN_TOTO_PAYLOAD_TYPE, payload) }
    const r = verifyStatement({ envelope: env, roleAt, cosignatures: [co] })
    expect(r.ok).toBe(true)
    expect(r.verified).toContainEqual({ keyid: other.id, as: 'rebuilder', ok: true, job: H('b') })
    const self = { job: H('b'), at: T0 + 3000, ...signPayload(builder, IN_TOTO_PAYLOAD_TYPE, payload) }
    expect(verifyStatement({ envelope: env, roleAt, cosignatures: [self] }).ok).toBe(false)
    const wrong = { ...co, sig: signPayload(other, IN_TOTO_PAYLOAD_TYPE, Buffer.from('something else')).sig }
    expect(verifyStatement({ envelope: env, roleAt, cosignatures: [wrong] }).ok).toBe(false)
  })

  it('the report of a triggered job prints its commit, submitter and builder', () => {
    const source = { repo: 'https://example.org/libfoo.git', commit: 'c0ffee'.repeat(6) + 'c0ff', ref: 'refs/heads/main' }
    const env = seal(builder, { source, submitter: 'submitter-key' })
    const r = verifyStatement({ envelope: env, subject: H('2'), roleAt })
    expect(r.ok).toBe(true)
    expect(r.statement.predicate.buildDefinition.resolvedDependencies).toContainEqual({ uri: `git+${source.repo}`, digest: { gitCommit: source.commit } })
    const text = formatReport({ ...r.statement, envelope: r.hash, asked: { sha256: H('2'), name: 'dist/libfoo.tgz' }, ok: r.ok, verified: r.verified, problems: r.problems })
    expect(text).toContain(`commit     ${source.commit}  ${source.repo} (refs/heads/main)`)
    expect(text).toContain('submitter  submitter-key')
    expect(text).toContain(`builder    ${builder.id}`)
  })
})
