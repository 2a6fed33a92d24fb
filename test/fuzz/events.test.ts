import { beforeAll, describe, expect, it } from 'vitest'
import { Identity, seal } from '../../protocols/codec/index.js'
import { applyEvent, rowFromAnnouncement } from '../../node/jobs/job-store.js'
import { fuzz, SEED } from './harness.js'
import { HASH, makeSamples } from './samples.js'
import type { JobAnnouncement, JobEvent } from '../../protocols/job/index.js'
import type { JobRow } from '../../node/jobs/types.js'
import type { Prng } from './prng.js'
import type { Samples } from './samples.js'

/**
 * Gossip and sync deliver a job's events in any order, and nodes that were cut off or down see
 * them late. Whatever the order, every node must end with the same row: same state, executor and
 * result. Each scenario's events are applied in random orders and the rows compared.
 */
describe('fuzz: a job\'s events in any order give the same outcome on every node', () => {
  let s: Samples
  const ids: Identity[] = []
  let ann: ReturnType<typeof seal<JobAnnouncement>>

  beforeAll(async () => {
    console.log(`[fuzz] seed ${SEED} (set CIT_FUZZ_SEED=${SEED} to replay this run)`)
    s = await makeSamples()
    for (let i = 0; i < 3; i++) ids.push(await Identity.generate())
    ann = seal(s.member, 'job', s.announcement as unknown as JobAnnouncement)
  })

  const ev = (by: Identity, type: JobEvent['type'], at: number, extra: Partial<JobEvent> = {}): JobEvent => ({ job: ann.hash, type, node: by.id, at, ...extra })
  const result = (log: string): JobEvent['result'] => ({ state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log, artefacts: [] })
  const run = (by: Identity, epoch: number, t: number, log: string, takeover = false): JobEvent[] => [
    ...(takeover ? [ev(by, 'requeued', t, { state: 'queued', epoch, reason: 'went silent' })] : []),
    ev(by, 'claimed', t + 1, { state: 'claimed', epoch }),
    ev(by, 'started', t + 2, { state: 'running', epoch }),
    ev(by, 'finished', t + 9, { state: 'succeeded', epoch, result: result(log) })
  ]

  /** the row a node ends with after these events in this order */
  function replay (events: JobEvent[]): Pick<JobRow, 'state' | 'executor' | 'log' | 'exitCode'> {
    const row = rowFromAnnouncement(ann, true)
    applyEvent(row, ev(s.member, 'submitted', 0, { state: 'queued' }))
    for (const e of events) applyEvent(row, e)
    return { state: row.state, executor: row.executor, log: row.log, exitCode: row.exitCode }
  }

  function shuffled<T> (rng: Prng, items: T[]): T[] {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = rng.int(i + 1)
      ;[out[i], out[j]] = [out[j], out[i]]
    }
    return out
  }

  it('crash, restart, take-over, a partition, and a late result: one outcome whatever the order', async () => {
    const [v, w, x] = ids
    const lower = v.id < w.id ? v : w
    const scenarios: Record<string, { events: JobEvent[], want: { state: string, executor: string, log?: string } }> = {
      // v died running it; w took it over; v restarted and recorded the failure under its old epoch
      'take-over, then the old executor restarts': {
        events: [ev(v, 'claimed', 1, { state: 'claimed', epoch: 1 }), ev(v, 'started', 2, { state: 'running', epoch: 1 }), ...run(w, 2, 30, 'a'.repeat(64), true),
          ev(v, 'failed', 35, { state: 'failed', epoch: 1, reason: 'the daemon stopped while the job was running' })],
        want: { state: 'succeeded', executor: w.id, log: 'a'.repeat(64) }
      },
      'restart before any take-over': {
        events: [ev(v, 'claimed', 1, { state: 'claimed', epoch: 1 }), ev(v, 'started', 2, { state: 'running', epoch: 1 }), ev(v, 'failed', 5, { state: 'failed', epoch: 1, reason: 'the daemon stopped while the job was running' })],
        want: { state: 'failed', executor: v.id }
      },
      // v's result got out only after w had taken the job over: the later epoch's result stands
      'a late result of a fenced executor': {
        events: [...run(v, 1, 1, 'b'.repeat(64)), ...run(w, 2, 30, 'c'.repeat(64), true)],
        want: { state: 'succeeded', executor: w.id, log: 'c'.repeat(64) }
      },
      // both sides of a partition claimed epoch 1 and ran it
      'two results of one epoch (a partition)': {
        events: [...run(v, 1, 1, v === lower ? 'd'.repeat(64) : 'e'.repeat(64)), ...run(w, 1, 3, w === lower ? 'd'.repeat(64) : 'e'.repeat(64))],
        want: { state: 'succeeded', executor: lower.id, log: 'd'.repeat(64) }
      },
      'a partition, then a take-over of one side\'s run': {
        events: [...run(v, 1, 1, HASH), ...run(w, 1, 3, HASH), ...run(x, 2, 40, 'f'.repeat(64), true)],
        want: { state: 'succeeded', executor: x.id, log: 'f'.repeat(64) }
      }
    }
    const outcomes: Record<string, number> = {}
    await fuzz('jobs.applyEvent order', rng => {
      const [name, sc] = rng.pick(Object.entries(scenarios))
      const got = replay(shuffled(rng, sc.events))
      if (got.state !== sc.want.state || got.executor !== sc.want.executor || (sc.want.log != null && got.log !== sc.want.log)) {
        throw new Error(`${name}: ended ${JSON.stringify(got)}, want ${JSON.stringify(sc.want)}`)
      }
      outcomes[name] = (outcomes[name] ?? 0) + 1
      return name
    }, { cases: 5000 })
    expect(Object.keys(outcomes).length).toBe(Object.keys(scenarios).length)
  }, 60_000)
})
