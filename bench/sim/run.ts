/**
 * `npm run sim -- --nodes N --jobs M [--latency-ms 1-20] [--loss 0] [--seed 1] [--out FILE]
 * [--peers 24] [--work-ms 2000] [--rate 20] [--idle-s 15] [--verify-rate R]`: N cit nodes in
 * one process on virtual time (the real lease and codec code, a model of gossipsub; see
 * bench/sim/mesh.ts and docs/benchmarks.md), writes bench/results/sim.json and prints it.
 */
import '../../node/polyfill.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { GOSSIP_D, GOSSIP_DLAZY, REDIAL_MAX_CONNECTED } from '../../protocols/net/constants.js'
import { SimMesh } from './mesh.js'
import type { SimOptions, SimResult } from './mesh.js'

const DEFAULT_OUT = resolve(import.meta.dirname, '../../../bench/results/sim.json')

/**
 * Up to this many nodes every first copy's signature is verified; above, about this many copies
 * per message are (the default of --verify-rate): the figures are in virtual time and do not
 * depend on it, the run's length does (an Ed25519 check costs ~100 µs, and there are ~N² copies)
 */
export const VERIFY_ALL_UP_TO = 25

export interface CliOptions extends SimOptions { out: string }

function num (name: string, v: string | undefined, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v == null) return dflt
  const n = Number(v)
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`)
  return n
}

/** the options of a run from its arguments; throws listing the first problem */
export function parseOptions (args: string[]): CliOptions {
  const { values } = parseArgs({
    args,
    options: {
      nodes: { type: 'string' }, jobs: { type: 'string' }, 'latency-ms': { type: 'string' }, loss: { type: 'string' },
      seed: { type: 'string' }, out: { type: 'string' }, peers: { type: 'string' }, 'work-ms': { type: 'string' },
      rate: { type: 'string' }, 'idle-s': { type: 'string' }, 'verify-rate': { type: 'string' }, slots: { type: 'string' },
      'horizon-s': { type: 'string' }
    },
    strict: true
  })
  const nodes = Math.round(num('nodes', values.nodes, 100, 2, 100_000))
  const lat = (values['latency-ms'] ?? '1-20').split('-').map(Number)
  const latencyMs: [number, number] = lat.length === 1 ? [lat[0], lat[0]] : [lat[0], lat[1]]
  if (lat.length > 2 || !latencyMs.every(x => Number.isFinite(x) && x >= 0) || latencyMs[0] > latencyMs[1]) throw new Error('--latency-ms must be MS or MIN-MAX')
  return {
    nodes,
    jobs: Math.round(num('jobs', values.jobs, 50, 1, 100_000)),
    latencyMs,
    loss: num('loss', values.loss, 0, 0, 0.5),
    seed: Math.round(num('seed', values.seed, 1, 0, 2 ** 31)),
    peers: Math.round(num('peers', values.peers, REDIAL_MAX_CONNECTED, 1, 10_000)),
    workMs: num('work-ms', values['work-ms'], 2000, 0),
    submitPerS: num('rate', values.rate, 20, 0.001),
    idleS: num('idle-s', values['idle-s'], 15, 1),
    verifyRate: num('verify-rate', values['verify-rate'], Math.min(1, VERIFY_ALL_UP_TO / nodes), 0, 1),
    slots: Math.round(num('slots', values.slots, 2, 1, 1024)),
    horizonS: num('horizon-s', values['horizon-s'], 300, 1),
    out: resolve(values.out ?? DEFAULT_OUT)
  }
}

/** what `npm run sim` writes: the figures of the issue at the top, the details below */
export interface SimReport {
  nodes: number
  jobs: number
  announce_p50_ms: number | null
  announce_p99_ms: number | null
  claim_p50_ms: number | null
  claim_p99_ms: number | null
  messages_per_node_per_s_idle: number
  duplicate_accepted: number
  lost: number
  detail: SimResult
  options: SimOptions
  wall_s: number
  loadavg: number[]
  note: string
}

/** run the simulation of `o` and write its report to `o.out` */
export async function simulate (o: CliOptions): Promise<SimReport> {
  const t0 = Date.now()
  const sim = await SimMesh.create(o)
  const r = await sim.run()
  const { out: file, ...options } = o
  const out: SimReport = {
    nodes: r.nodes,
    jobs: r.jobs,
    announce_p50_ms: r.announce_p50_ms,
    announce_p99_ms: r.announce_p99_ms,
    claim_p50_ms: r.claim_p50_ms,
    claim_p99_ms: r.claim_p99_ms,
    messages_per_node_per_s_idle: r.messages_per_node_per_s_idle,
    duplicate_accepted: r.duplicate_accepted,
    lost: r.lost,
    detail: r,
    options,
    wall_s: (Date.now() - t0) / 1000,
    loadavg: loadavg().map(x => Math.round(x * 100) / 100),
    note: 'virtual time; real lease (acceptor, claimant, RPC, certificates) and codec/job/load validation code; gossipsub modelled ' +
      `(D=${GOSSIP_D}, flood publish, IHAVE/IWANT to ${GOSSIP_DLAZY}); Ed25519 verification of ${o.verifyRate >= 1 ? 'every' : `a sampled ${Math.round(o.verifyRate * 1000) / 10} % of`} first gossip copies (every lease message verified)`
  }
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`)
  return out
}

async function main (): Promise<void> {
  const out = await simulate(parseOptions(process.argv.slice(2)))
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch(err => {
    process.stderr.write(`sim: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exit(1)
  })
}
