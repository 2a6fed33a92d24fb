/**
 * The mesh simulator (issue 15) at 50 nodes: the real lease code and signed envelopes over the
 * modelled gossipsub, once on clean links and once with 5 % of all messages lost. Every job must
 * reach every node, have exactly one accepted result (certificate checked) known to every node,
 * and the figures must be present and plausible for the latencies injected.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseOptions, simulate } from '../../bench/sim/run.js'
import type { SimReport } from '../../bench/sim/run.js'

const dir = mkdtempSync(join(tmpdir(), 'cit-sim-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

function expectSound (r: SimReport, jobs: number): void {
  expect(r.jobs).toBe(jobs)
  expect(r.duplicate_accepted).toBe(0)
  expect(r.lost).toBe(0)
  expect(r.detail.bad_certificates).toBe(0)
  // every node heard every announcement and every job's result
  expect(r.detail.unheard).toBe(0)
  expect(r.detail.result_unheard).toBe(0)
  expect(r.detail.executions).toBeGreaterThanOrEqual(jobs)
  expect(r.detail.refused_copies).toBe(0)
}

describe('mesh simulator', () => {
  it('parses its options, with defaults and errors', () => {
    const o = parseOptions(['--nodes', '1000', '--jobs', '200', '--latency-ms', '5-50', '--loss', '0.01', '--seed', '7', '--out', join(dir, 'x.json')])
    expect(o).toMatchObject({ nodes: 1000, jobs: 200, latencyMs: [5, 50], loss: 0.01, seed: 7, out: join(dir, 'x.json') })
    expect(o.verifyRate).toBeLessThan(1)
    expect(parseOptions(['--nodes', '20']).verifyRate).toBe(1)
    expect(parseOptions(['--latency-ms', '10']).latencyMs).toEqual([10, 10])
    expect(() => parseOptions(['--loss', '2'])).toThrow(/--loss/)
    expect(() => parseOptions(['--latency-ms', '20-5'])).toThrow(/--latency-ms/)
    expect(() => parseOptions(['--bogus'])).toThrow()
  })

  it('50 nodes, 20 jobs on clean links: every job announced everywhere, run once, accepted once; figures written', async () => {
    const out = join(dir, 'clean.json')
    const r = await simulate({ ...parseOptions(['--nodes', '50', '--jobs', '20', '--latency-ms', '1-20', '--seed', '3', '--verify-rate', '1', '--out', out]), idleS: 5 })
    expectSound(r, 20)
    expect(r.detail.duplicate_executions).toBe(0)
    expect(r.detail.executions).toBe(20)
    expect(r.detail.unverified_copies).toBe(0)
    // one hop costs 1-22 ms (latency and jitter): the median reaches a node in a few hops
    expect(r.announce_p50_ms).toBeGreaterThan(0)
    expect(r.announce_p99_ms).toBeGreaterThanOrEqual(r.announce_p50_ms!)
    expect(r.announce_p99_ms).toBeLessThan(200)
    // a claim is a quorum round trip after the node's turn: at least one link's latency
    expect(r.claim_p50_ms).toBeGreaterThan(0)
    expect(r.claim_p99_ms).toBeGreaterThanOrEqual(r.claim_p50_ms!)
    expect(r.messages_per_node_per_s_idle).toBeGreaterThan(0)
    expect(r.detail.idle_messages_by_kind.ihave).toBeGreaterThan(0)
    const written = JSON.parse(readFileSync(out, 'utf8')) as SimReport
    for (const k of ['nodes', 'jobs', 'announce_p50_ms', 'announce_p99_ms', 'claim_p50_ms', 'claim_p99_ms', 'messages_per_node_per_s_idle', 'duplicate_accepted', 'lost'] as const) {
      expect(written[k], k).toBe(r[k])
    }
  }, 60_000)

  it('50 nodes, 20 jobs with 5 % of messages lost (gossip and lease alike): every job still reaches every node and is decided once', async () => {
    const r = await simulate({ ...parseOptions(['--nodes', '50', '--jobs', '20', '--loss', '0.05', '--seed', '5', '--verify-rate', '1', '--out', join(dir, 'lossy.json')]), idleS: 5 })
    expectSound(r, 20)
    expect(r.detail.lost_messages).toBeGreaterThan(0)
  }, 60_000)
})
