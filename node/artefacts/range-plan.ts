import type { DoneRange } from './part-file.js'

/**
 * Which ranges of a download are done, pending or in flight, and what every holder sent for
 * each. A range is never asked of a holder that already sent it: that is how a repair round
 * gets a second (third, …) opinion on a range. Two holders that sent the same bytes for a range
 * confirm it.
 */
export class RangePlan {
  readonly count: number
  private readonly pending = new Set<number>()
  private readonly inflight = new Map<number, string>()
  /**
   * range → holder → sha256 of what that holder sent; undefined until it is needed: a range's
   * hash is taken from the part file only when a download does not verify (`unhashed`, `setHash`)
   */
  private readonly history = new Map<number, Map<string, string | undefined>>()

  constructor (readonly size: number, readonly rangeBytes: number, readonly done: Map<number, DoneRange>) {
    this.count = Math.ceil(size / rangeBytes)
    for (let i = 0; i < this.count; i++) {
      const d = done.get(i)
      if (d == null) this.pending.add(i)
      else this.record(i, d.holder, d.sha256)
    }
  }

  bounds (index: number): { start: number, end: number } {
    const start = index * this.rangeBytes
    return { start, end: Math.min(this.size, start + this.rangeBytes) }
  }

  get pendingCount (): number { return this.pending.size }
  get inflightCount (): number { return this.inflight.size }

  get bytesDone (): number {
    let n = 0
    for (const i of this.done.keys()) {
      const { start, end } = this.bounds(i)
      n += end - start
    }
    return n
  }

  /** the lowest pending range `holder` has not sent before, if any */
  nextFor (holder: string): number | undefined {
    for (const i of this.pending) {
      if (this.history.get(i)?.has(holder) !== true) return i
    }
    return undefined
  }

  begin (index: number, holder: string): void {
    this.pending.delete(index)
    this.inflight.set(index, holder)
  }

  /** the range arrived whole from `holder` (its bytes hash to `sha256`, when known) */
  complete (index: number, holder: string, sha256?: string): DoneRange {
    this.inflight.delete(index)
    this.record(index, holder, sha256)
    const range = sha256 === undefined ? { holder } : { holder, sha256 }
    this.done.set(index, range)
    return range
  }

  /** done ranges whose hash is not known yet: hash them (`setHash`) before `reopenForRepair` or `blame` */
  unhashed (): number[] {
    return [...this.done].filter(([, r]) => r.sha256 === undefined).map(([i]) => i).sort((a, b) => a - b)
  }

  /** the bytes now held for done range `index` hash to `sha256` */
  setHash (index: number, sha256: string): void {
    const range = this.done.get(index)
    if (range == null) return
    range.sha256 = sha256
    this.record(index, range.holder, sha256)
  }

  /** the request failed: the range is pending again */
  fail (index: number): void {
    this.inflight.delete(index)
    this.pending.add(index)
  }

  /**
   * After the whole did not verify, and every done range is hashed: reopen every done range that
   * no second holder confirmed and one of `holders` has not sent yet (each will be asked of such a
   * holder). If every range was confirmed (two holders sent the same wrong bytes), every range is a
   * suspect. A suspect that every holder left has sent already keeps its bytes: nobody can give a
   * second opinion on it, but the others may still be what was wrong (a download resumed from
   * ranges a holder that has gone sent). Returns the reopened indexes: none means the download
   * cannot be repaired from these holders.
   */
  reopenForRepair (holders: Iterable<string>): number[] {
    const usable = [...holders]
    let suspects = [...this.done.keys()].filter(i => !this.confirmed(i))
    if (suspects.length === 0) suspects = [...this.done.keys()]
    const reopen = suspects.filter(i => usable.some(h => this.history.get(i)?.has(h) !== true))
    for (const i of reopen) {
      this.done.delete(i)
      this.pending.add(i)
    }
    return reopen.sort((a, b) => a - b)
  }

  /** holders that ever sent bytes for a range that differ from the bytes now held (call after the whole verified, every range hashed that was sent more than once) */
  blame (): string[] {
    const bad = new Set<string>()
    for (const [i, sent] of this.history) {
      const good = this.done.get(i)?.sha256
      for (const [holder, sha] of sent) if (good !== undefined && sha !== good) bad.add(holder)
    }
    return [...bad].sort()
  }

  /** holders that supplied the ranges now held (the suspects when a repair is impossible) */
  suppliers (): string[] {
    return [...new Set([...this.done.values()].map(r => r.holder))].sort()
  }

  /** a range whose current bytes were sent alike by two holders */
  private confirmed (index: number): boolean {
    const current = this.done.get(index)?.sha256
    let agreeing = 0
    for (const sha of this.history.get(index)?.values() ?? []) if (sha === current) agreeing++
    return agreeing >= 2
  }

  private record (index: number, holder: string, sha256: string | undefined): void {
    let sent = this.history.get(index)
    if (sent == null) this.history.set(index, sent = new Map())
    sent.set(holder, sha256)
  }
}
