import { multiaddr } from '@multiformats/multiaddr'
import { createMeshLibp2p } from '../../protocols/net/index.js'
import { requestJoin } from '../../protocols/join/index.js'
import { createMesh, decodeToken, makeEnroll } from '../../protocols/trust/index.js'
import { NodeError } from '../errors.js'
import { ensureHome, loadOrCreateIdentity, writeFileAtomic } from '../home.js'
import { loadConfig } from '../config/config.js'
import { readMembership, writeMembership } from './membership.js'
import type { DecodedToken } from '../../protocols/trust/index.js'
import type { NodeConfig } from '../config/config.js'

/** how long `join` keeps trying the token's addresses */
export const JOIN_TIMEOUT_MS = 20_000

export class AlreadyInMeshError extends NodeError {
  constructor (meshId: string) {
    super('ERR_ALREADY_IN_MESH', `this home is already a member of mesh ${meshId.slice(0, 16)}…: \`cit-node start -d\` runs its daemon; for another mesh use another --home, or \`cit-node leave\` first`)
    this.name = 'AlreadyInMeshError'
  }
}

export class JoinUnreachableError extends NodeError {
  constructor (detail: string) {
    super('ERR_JOIN_UNREACHABLE', `no member named in the token could be reached: ${detail}`)
    this.name = 'JoinUnreachableError'
  }
}

async function assertNotMember (home: string): Promise<void> {
  const m = await readMembership(home)
  if (m != null && m.leftAt == null) throw new AlreadyInMeshError(m.mesh.id)
}

/** keep --listen, --label and --http in config.json so restarts use them */
export async function saveNodeFlags (home: string, configPath: string, flags: Partial<Pick<NodeConfig, 'listen' | 'labels' | 'http'>>): Promise<void> {
  const current = await loadConfig(configPath)
  const next: Record<string, unknown> = { ...current }
  if (flags.listen != null && flags.listen.length > 0) next.listen = flags.listen
  if (flags.labels != null && flags.labels.length > 0) next.labels = flags.labels
  if (flags.http?.listen != null) next.http = { ...current.http, listen: flags.http.listen }
  await writeFileAtomic(configPath, JSON.stringify(next, null, 2) + '\n')
}

/** `init`: make this home the first member and admin (root key) of a new mesh. */
export async function createMeshHome (home: string): Promise<{ peerId: string, meshId: string }> {
  const paths = await ensureHome(home)
  await assertNotMember(home)
  const identity = await loadOrCreateIdentity(paths)
  const mesh = createMesh(identity)
  await writeMembership(home, { mesh, records: [], bootstrap: [], joinedAt: Date.now() })
  return { peerId: identity.id, meshId: mesh.id }
}

/**
 * `join`: enroll this home's key with the token's invite and hand the enrollment to a member.
 * The member is reached under the invite key (members let invite keys connect, for this only);
 * its reply carries the mesh's trust records, so the daemon starts already knowing the mesh.
 */
export async function joinMeshHome (home: string, token: string, options: { signal?: AbortSignal } = {}): Promise<{ peerId: string, meshId: string, decoded: DecodedToken }> {
  const decoded = decodeToken(token)
  const paths = await ensureHome(home)
  await assertNotMember(home)
  const identity = await loadOrCreateIdentity(paths)
  const enroll = makeEnroll(decoded.inviteIdentity, decoded.mesh, decoded.inviteHash, identity.publicKey)
  const libp2p = await createMeshLibp2p({
    privateKey: decoded.inviteIdentity.privateKey,
    listen: [],
    bootstrap: [],
    isAllowed: () => true
  })
  const signal = AbortSignal.any([AbortSignal.timeout(JOIN_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
  const failures: string[] = []
  try {
    for (const addr of decoded.addrs) {
      try {
        const reply = await requestJoin(libp2p, multiaddr(addr), enroll.bytes, { signal })
        await writeMembership(home, {
          mesh: decoded.mesh,
          records: [...decoded.chain, decoded.invite, enroll.bytes, ...reply.records],
          bootstrap: [...new Set([...decoded.addrs, ...reply.addrs])].filter(a => !a.endsWith(`/p2p/${identity.id}`)),
          joinedAt: Date.now()
        })
        return { peerId: identity.id, meshId: decoded.mesh.id, decoded }
      } catch (err: any) {
        if (err?.code === 'ERR_JOIN_REFUSED') throw err
        failures.push(`${addr}: ${String(err?.message ?? err)}`)
        if (signal.aborted) break
      }
    }
  } finally {
    await libp2p.stop()
  }
  throw new JoinUnreachableError(failures.join('; ') || 'the token names no address')
}
