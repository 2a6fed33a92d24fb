import { describe, expect, it } from 'vitest'
import { GOALS, figure, notes, quantile, sortedCopy, table, unmeasured } from '../../bench/stats.js'

describe('bench statistics', () => {
  it('quantile is nearest-rank on sorted samples', () => {
    const xs = sortedCopy([5, 1, 4, 2, 3])
    expect(xs).toEqual([1, 2, 3, 4, 5])
    expect(quantile(xs, 0.5)).toBe(3)
    expect(quantile(xs, 0.99)).toBe(5)
    expect(quantile(xs, 0)).toBe(1)
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(quantile(hundred, 0.99)).toBe(99)
    expect(quantile(hundred, 0.5)).toBe(50)
    expect(() => quantile([], 0.5)).toThrow(RangeError)
  })

  it('a figure carries value / baseline as its ratio, and null when either is missing', () => {
    const f = figure({ value: 30, unit: 'ms', baseline: 10, n: 7, note: 'x' })
    expect(f).toEqual({ value: 30, unit: 'ms', baseline: 10, ratio: 3, n: 7, note: 'x' })
    const u = unmeasured('MB/s', 'not there yet', 120)
    expect(u.value).toBeNull()
    expect(u.ratio).toBeNull()
    expect(u.baseline).toBe(120)
    expect(u.note).toBe('not there yet')
    expect(figure({ value: 1, unit: 'ms', baseline: 0, n: 1 }).ratio).toBeNull()
  })

  it('goals are judged against the right field', () => {
    expect(GOALS.dispatch_p50_ms.met(figure({ value: 40, unit: 'ms', baseline: 3, n: 1 }))).toBe(true)
    expect(GOALS.dispatch_p50_ms.met(figure({ value: 60, unit: 'ms', baseline: 3, n: 1 }))).toBe(false)
    expect(GOALS.throughput_jobs_per_s.met(figure({ value: 40, unit: 'jobs/s', baseline: 100, n: 1 }))).toBe(false)
    expect(GOALS.fetch_mb_per_s.met(figure({ value: 300, unit: 'MB/s', baseline: 150, n: 1 }))).toBe(true)
    expect(GOALS.attach_echo_p50_ms.met(unmeasured('ms', 'absent'))).toBeNull()
  })

  it('the table has a row per figure and marks missed goals', () => {
    const figures = {
      dispatch_p50_ms: figure({ value: 60, unit: 'ms', baseline: 3, n: 10 }),
      cache_hit_p50_ms: unmeasured('ms', 'no cache yet')
    }
    const lines = table(figures).split('\n')
    expect(lines).toHaveLength(4)
    expect(lines[2]).toContain('dispatch_p50_ms')
    expect(lines[2]).toContain('NO')
    expect(lines[3]).toContain('—')
    expect(notes(figures)).toBe('- cache_hit_p50_ms: no cache yet')
  })
})
