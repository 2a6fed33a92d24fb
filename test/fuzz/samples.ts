/**
 * Valid messages of every kind the wire carries, made with the project's own encoders: the seeds
 * the fuzz suite mutates.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Identity, seal } from '../../protocols/codec/index.js'
import { parseJobFile } from '../../protocols/job/parse.js'
import { LEASE_GRANT } from '../../protocols/lease/index.js'
import { createMesh, encodeToken, makeEnroll, makeGrant, makeRevoke } from '../../protocols/trust/index.js'
import { ROOT } from '../helpers/cli.js'
import type { JobSpec } from '../../protocols/job/index.js'
import type { MeshInfo } from '../../protocols/trust/index.js'

export const JOB_ID = 'ab'.repeat(32)
export const HASH = 'cd'.repeat(32)

export interface Samples {
  now: number
  admin: Identity
  member: Identity
  mesh: MeshInfo
  /** job files as text (the examples shipped with the project) */
  jobFiles: string[]
  spec: JobSpec
  announcement: Record<string, unknown>
  events: Array<Record<string, unknown>>
  load: Record<string, unknown>
  /** signed envelopes of every kind, as bytes */
  envelopes: Uint8Array[]
  /** trust records: grant, invite grant, revoke, enroll */
  records: Uint8Array[]
  token: string
  lease: Uint8Array
}

export async function makeSamples (now = Date.now()): Promise<Samples> {
  const admin = await Identity.generate()
  const member = await Identity.generate()
  const invite = await Identity.generate()
  const mesh = createMesh(admin, now - 60_000)
  const jobFiles = ['build.yaml', 'failing.yaml', 'params.yaml'].map(f => readFileSync(join(ROOT, 'examples', f), 'utf8'))
  const spec = parseJobFile(jobFiles[0]).spec!
  const announcement = { spec, params: {}, priority: 0, submittedAt: now, node: member.id, nonce: '0011223344556677', mesh: mesh.id }
  const result = { state: 'succeeded', exitCode: 0, usage: { wallMs: 10, cpuMs: 5, maxRssBytes: 1024 }, log: HASH, artefacts: [{ path: 'dist/hello.tar.gz', sha256: HASH, size: 10 }] }
  const events = [
    { job: JOB_ID, type: 'claimed', node: member.id, at: now, state: 'claimed', epoch: 1, mesh: mesh.id },
    { job: JOB_ID, type: 'started', node: member.id, at: now, state: 'running', epoch: 1, mesh: mesh.id },
    { job: JOB_ID, type: 'finished', node: member.id, at: now, state: 'succeeded', epoch: 1, result, mesh: mesh.id },
    { job: JOB_ID, type: 'cancel-requested', node: member.id, at: now, reason: 'by hand', mesh: mesh.id },
    { job: JOB_ID, type: 'reprioritized', node: member.id, at: now, priority: 5, mesh: mesh.id }
  ]
  const load = {
    node: member.id, at: now, seq: 3, load1: 0.5, cores: 2, memFreeBytes: 1e9, memTotalBytes: 2e9, slots: 2, slotsFree: 1,
    labels: ['linux'], state: 'active', running: [JOB_ID], addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${member.id}`], workspaces: ['x'], loadLimit: 2, mesh: mesh.id
  }
  const inviteGrant = makeGrant(admin, mesh, invite.publicKey, ['submit', 'build', 'read'], { invite: true }, now - 1000)
  const records = [
    makeGrant(admin, mesh, member.publicKey, ['submit', 'build', 'read'], {}, now - 1000).bytes,
    inviteGrant.bytes,
    makeRevoke(admin, mesh, invite.publicKey, now).bytes,
    makeEnroll(invite, mesh, inviteGrant.hash, member.publicKey, now - 500).bytes
  ]
  const token = encodeToken({ mesh, invite: inviteGrant.bytes, inviteKey: invite.toBytes(), addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${admin.id}`] }, now)
  const envelopes = [
    seal(member, 'job', announcement).bytes,
    ...events.map(e => seal(member, 'event', e).bytes),
    seal(member, 'load', load).bytes,
    ...records
  ]
  // an acceptor's grant, as the lease protocol sends it
  const lease = seal(member, LEASE_GRANT, { mesh: mesh.id, at: now, re: 1, job: JOB_ID, epoch: 1, holder: admin.id, ttl: 15_000 }).bytes
  return { now, admin, member, mesh, jobFiles, spec, announcement, events, load, envelopes, records, token, lease }
}
