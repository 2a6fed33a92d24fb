import type { EventView, JobRow } from './types.js'

/** how many finished rows a node keeps in memory by default */
export const FINISHED_ROWS_KEPT = 512

interface Kept {
  row: JobRow
  /** its stored events, until one more is recorded */
  events?: EventView[]
}

/**
 * The rows of the jobs that finished most recently, by id, least recently used dropped first. A
 * finished row no longer changes (`applyEvent` refuses every event for it; only the mesh's
 * `announced` flag is set, on the object `JobService.get` returned), so once read or written
 * it can answer later reads without a disk read: a cache hit's `submit`, `wait` and `show`
 * each read it and the job its result came from several times. Its list of events can still
 * grow (a late event is stored, changing nothing): the owner drops it with `forgetEvents`
 * whenever it records one.
 */
export class FinishedRows {
  private readonly rows = new Map<string, Kept>()

  constructor (private readonly max: number = FINISHED_ROWS_KEPT) {
    if (!Number.isSafeInteger(max) || max < 0) throw new TypeError('finished rows: max must be a whole number ≥ 0')
  }

  get size (): number { return this.rows.size }

  get (id: string): JobRow | undefined {
    const kept = this.rows.get(id)
    if (kept == null) return undefined
    // most recently used last: Map keeps insertion order
    this.rows.delete(id)
    this.rows.set(id, kept)
    return kept.row
  }

  /** keep `row` (which must be final); returns the copy kept, an earlier one if there was one */
  keep (row: JobRow): JobRow {
    const known = this.rows.get(row.id)
    if (known != null) return known.row
    if (this.max === 0) return row
    this.rows.set(row.id, { row })
    if (this.rows.size > this.max) this.rows.delete(this.rows.keys().next().value!)
    return row
  }

  /** a copy of the kept events of a kept row */
  events (id: string): EventView[] | undefined {
    const events = this.rows.get(id)?.events
    return events == null ? undefined : events.map(e => ({ ...e }))
  }

  setEvents (id: string, events: EventView[]): void {
    const kept = this.rows.get(id)
    if (kept != null) kept.events = events.map(e => ({ ...e }))
  }

  forgetEvents (id: string): void {
    const kept = this.rows.get(id)
    if (kept != null) kept.events = undefined
  }
}
