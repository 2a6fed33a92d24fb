import { beforeAll, describe, expect, it } from 'vitest'
import { Identity, seal } from '../../protocols/codec/index.js'
import { applyEvent, rowFromAnnouncement } from '../../node/jobs/job-store.js'
import { fuzz, SEED } from './harness.js'
import { makeSamples } from './samples.js'
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

  /** the events the acceptors' signatures back (a stand-in for the certificates the fence checks) */
  const certified = new WeakSet<JobEvent>()
  const cert = (e: JobEvent): JobEvent => { certified.add(e); return e }
  const ev = (by: Identity, type: JobEvent['type'], at: number, extra: Partial<JobEvent> = {}): JobEvent => ({ job: ann.hash, type, node: by.id, at, ...extra })
  const result = (log: string): JobEvent['result'] => ({ state: 'succeeded', exitCode: 0, usage: { wallMs: 1, cpuMs: 1, maxRssBytes: 1 }, log, artefacts: [] })
  const started = (by: Identity, epoch: number, t: number, reason?: string): JobEvent => cert(ev(by, 'started', t, { state: 'running', epoch, reason }))
  const finished = (by: Identity, epoch: number, t: number, log: string, certify = true, ran?: string): JobEvent => {
    const e = ev(by, 'finished', t, { state: 'succeeded', epoch, result: result(log), ran })
    return certify ? cert(e) : e
  }

  /** the row a node ends with after these events in this order */
  function replay (events: JobEvent[]): Pick<JobRow, 'state' | 'executor' | 'log' | 'exitCode'> {
    const row = rowFromAnnouncement(ann, true)
    row.acceptors = ids.map(i => i.id)
    const fence = (_row: JobRow, e: JobEvent): boolean => certified.has(e)
    applyEvent(row, ev(s.member, 'submitted', 0, { state: 'queued' }), fence)
    for (const e of events) applyEvent(row, e, fence)
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

  it('crash, restart, take-over, hand-over, a result without quorum, an adopted result: one outcome whatever the order', async () => {
    const [v, w] = ids
    const scenarios: Record<string, { events: JobEvent[], want: { state: string, executor?: string, log?: string } }> = {
      // v died running it; w took it over; v restarted and put it back under its old epoch
      'take-over, then the old executor restarts': {
        events: [started(v, 1, 1), started(w, 2, 30, 'taken over'), finished(w, 2, 39, 'a'.repeat(64)),
          cert(ev(v, 'requeued', 35, { state: 'queued', epoch: 1, reason: 'the daemon stopped while the job was running' }))],
        want: { state: 'succeeded', executor: w.id, log: 'a'.repeat(64) }
      },
      // a node that restarts puts the job back; whichever of its two events arrives first
      'restart before any take-over': {
        events: [started(v, 1, 1), cert(ev(v, 'requeued', 5, { state: 'queued', epoch: 1, reason: 'the daemon stopped while the job was running' }))],
        want: { state: 'queued' }
      },
      'a graceful hand-over': {
        events: [started(v, 1, 1), cert(ev(v, 'requeued', 5, { state: 'queued', epoch: 1, reason: 'handed over' })), started(w, 2, 6), finished(w, 2, 9, 'b'.repeat(64))],
        want: { state: 'succeeded', executor: w.id, log: 'b'.repeat(64) }
      },
      // v's result without the acceptors' votes does not count, whenever it arrives
      'a result without quorum': {
        events: [started(v, 1, 1), finished(v, 1, 9, 'c'.repeat(64), false), started(w, 2, 30), finished(w, 2, 39, 'd'.repeat(64))],
        want: { state: 'succeeded', executor: w.id, log: 'd'.repeat(64) }
      },
      // v's result was decided while v died; w published it: one result, v's run
      'an adopted result': {
        events: [started(v, 1, 1), finished(v, 1, 9, 'e'.repeat(64)), finished(w, 2, 30, 'e'.repeat(64), true, v.id)],
        want: { state: 'succeeded', executor: v.id, log: 'e'.repeat(64) }
      }
    }
  const outcomes: Record<string, number> = {}
    await fuzz('jobs.applyEvent order', rng => {
      const [name, sc] = rng.pick(Object.entries(scenarios))
      const got = replay(shuffled(rng, sc.events))
      if (got.state !== sc.want.state || (sc.want.executor != null && got.executor !== sc.want.executor) || (sc.want.log != null && got.log !== sc.want.log)) {
        throw new Error(`${name}: ended ${JSON.stringify(got)}, want ${JSON.stringify(sc.want)}`)
      }
      outcomes[name] = (outcomes[name] ?? 0) + 1
      return name
    }, { cases: 5000 })
    expect(Object.keys(outcomes).length).toBe(Object.keys(scenarios).length)
  }, 60_000)
})
