/**
 * Shared parts of the chaos suite: sizes (small for CI, larger for `npm run soak`), job specs
 * submitted through the control API, snapshots of what every node knows about every job, and
 * the checks that compare them.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseJobFile } from '../../protocols/job/parse.js'
import { isAlive } from '../../node/pidfile.js'
import { waitFor } from '../helpers/cli.js'
import type { JobSpec } from '../../protocols/job/index.js'
import type { JobView } from '../../node/jobs/types.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

/** `npm run soak` sets this: every size takes its soak value */
export const SOAK = process.env.CIT_SOAK === '1'

/** a size from the environment (`name`), else the CI or the soak default */
export function size (name: string, ci: number, soak: number): number {
  const given = Number(process.env[name] ?? '')
  return Number.isSafeInteger(given) && given > 0 ? given : SOAK ? soak : ci
}

/** a test's time limit: `ci` ms, or `soak` ms under `npm run soak` */
export function limit (ci: number, soak: number): number {
  return SOAK ? soak : ci
}

/** a job spec from job-file text, failing loudly if the text is not a valid job */
export function spec (text: string): JobSpec {
  const r = parseJobFile(text)
  if (r.spec == null) throw new Error(`bad test job: ${JSON.stringify(r.problems)}`)
  return r.spec
}

/** submit through the node's control API (no CLI process per job); returns the job id */
export async function submit (mesh: TestMesh, n: MeshNode, s: JobSpec): Promise<string> {
  return (await mesh.api(n).submit({ spec: s })).id
}

export const FINAL = new Set(['succeeded', 'failed', 'timed-out', 'cancelled', 'superseded'])

/** what one node says about one job, reduced to what must agree across nodes */
export interface Facts {
  state: string
  executor: string | null
  log: string | null
  exitCode: number | null
  reason: string | null
  /** types of the stored events, in order */
  types: string[]
  /** hashes of the stored events (to compare histories) */
  hashes: string[]
  /** reasons the events gave, in order (null for none) */
  reasons: Array<string | null>
}

export function facts (v: JobView): Facts {
  return {
    state: v.state,
    executor: v.executor,
    log: v.log,
    exitCode: v.exitCode,
    reason: v.reason,
    types: v.events.map(e => e.type),
    hashes: v.events.map(e => e.hash).sort(),
    reasons: v.events.map(e => e.reason ?? null)
  }
}

export const count = (f: Facts, type: string): number => f.types.filter(t => t === type).length

/** every job a node knows, with its facts (one `show` per job, through the control API) */
export async function snapshot (mesh: TestMesh, n: MeshNode): Promise<Map<string, Facts>> {
  const api = mesh.api(n)
  const out = new Map<string, Facts>()
  for (const j of await api.list()) out.set(j.id, facts(await api.show(j.id)))
  return out
}

/** wait until each of `nodes` knows every job of `ids` in a final state */
export async function waitFinal (mesh: TestMesh, nodes: MeshNode[], ids: string[], timeoutMs: number, what = 'every job to be final'): Promise<void> {
  const want = new Set(ids)
  for (const n of nodes) {
    await waitFor(async () => {
      const list = await mesh.api(n).list()
      const final = list.filter(j => want.has(j.id) && FINAL.has(j.state)).length
      return final === want.size ? true : undefined
    }, { timeoutMs, intervalMs: 250, what: `${what} on ${n.name}` })
  }
}

/**
 * Wait until every node lists every node of `nodes` as reachable, in the state that node gives
 * itself (a pause is reported at once), and, with `since` (ms since the epoch), heard from it
 * after that moment (a restarted node reports at once). Not "every report younger than N s":
 * idle nodes report every 15 s at their own phases, so all of a mesh's reports may never be
 * young at one moment.
 */
export async function allPeersFresh (mesh: TestMesh, nodes = mesh.nodes, timeoutMs = 60_000, since?: number): Promise<void> {
  const own = new Map<string, string>()
  for (const n of nodes) {
    await waitFor(async () => {
      const self = (await mesh.api(n).peers()).find(p => p.self)
      if (self != null) own.set(n.peerId, self.state)
      return self != null ? true : undefined
    }, { timeoutMs, intervalMs: 200, what: `${n.name} to list itself` })
  }
  for (const n of nodes) {
    await waitFor(async () => {
      const now = Date.now()
      const peers = await mesh.api(n).peers()
      const heard = peers.filter(p => nodes.some(m => m.peerId === p.peerId) && p.state !== 'unreachable' && p.state === own.get(p.peerId) &&
        (since == null || p.self || now - p.reportAgeMs >= since))
      return heard.length === nodes.length ? true : undefined
    }, { timeoutMs, intervalMs: 200, what: `${n.name} to hear from every node` })
  }
}

/**
 * Differences between what the nodes say about the jobs of `ids`: a missing job, or another
 * state, executor, log or exit code than the first node's. Empty when they agree.
 */
export function differences (snaps: Map<string, Map<string, Facts>>, ids: string[]): string[] {
  const out: string[] = []
  const [firstName, first] = [...snaps][0]
  for (const id of ids) {
    const ref = first.get(id)
    if (ref == null) { out.push(`${id.slice(0, 8)} missing on ${firstName}`); continue }
    for (const [name, snap] of snaps) {
      const f = snap.get(id)
      if (f == null) { out.push(`${id.slice(0, 8)} missing on ${name}`); continue }
      for (const k of ['state', 'executor', 'log', 'exitCode'] as const) {
        if (f[k] !== ref[k]) out.push(`${id.slice(0, 8)} ${k}: ${String(ref[k])} on ${firstName}, ${String(f[k])} on ${name}`)
      }
    }
  }
  return out
}

/**
 * What every node knows about every job, once they agree on `ids` or after 30 s (events still in
 * flight settle within a few seconds), with the differences left, if any.
 */
export async function agreement (mesh: TestMesh, ids: string[], what: string): Promise<{ snaps: Map<string, Map<string, Facts>>, diff: string[] }> {
  let snaps = new Map<string, Map<string, Facts>>()
  await waitFor(async () => {
    snaps = new Map()
    for (const n of mesh.nodes) snaps.set(n.name, await snapshot(mesh, n))
    return differences(snaps, ids).length === 0 ? true : undefined
  }, { timeoutMs: 30_000, intervalMs: 1000, what }).catch(() => {})
  return { snaps, diff: differences(snaps, ids) }
}

/** the daemon's pid for a node, from its status */
export async function pidOf (mesh: TestMesh, n: MeshNode): Promise<number> {
  return (await mesh.api(n).status()).pid
}

/** SIGKILL a daemon and wait until the process is gone */
export async function sigkill (pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL')
  await waitFor(() => !isAlive(pid), { timeoutMs: 10_000, what: `pid ${pid} to die` })
}

/**
 * The partition hook's files, one per node: a node refuses the peers its file lists. Form the
 * mesh with `env: partitionEnv` so every daemon reads its own file.
 */
export const partitionEnv = (_i: number, home: string): NodeJS.ProcessEnv => ({ CIT_TEST_PARTITION_FILE: join(home, 'partition.json') })

/** cut the mesh into `groups`: each node refuses every node outside its group; wait until it is so */
export async function split (mesh: TestMesh, groups: MeshNode[][]): Promise<void> {
  for (const group of groups) {
    const others = mesh.nodes.filter(n => !group.includes(n)).map(n => n.peerId)
    for (const n of group) await writeFile(join(n.home, 'partition.json'), JSON.stringify(others))
  }
  for (const group of groups) {
    for (const n of group) {
      await waitFor(async () => (await mesh.api(n).status()).connected <= group.length - 1 ? true : undefined,
        { timeoutMs: 20_000, intervalMs: 100, what: `${n.name} to be cut off from the other side` })
    }
  }
}

/** let everyone connect again and wait until every node is connected to every other */
export async function heal (mesh: TestMesh): Promise<void> {
  for (const n of mesh.nodes) await writeFile(join(n.home, 'partition.json'), '[]')
  for (const n of mesh.nodes) {
    await waitFor(async () => (await mesh.api(n).status()).connected >= mesh.nodes.length - 1 ? true : undefined,
      { timeoutMs: 60_000, intervalMs: 200, what: `${n.name} to reconnect to everyone` })
  }
}
