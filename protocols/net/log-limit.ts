import { LOG_RATE_LIMIT_MS } from './constants.js'
import type { Logger } from '../../store/logger.js'

type Level = 'debug' | 'info' | 'warn' | 'error'

/**
 * Logs at most one line per key per period. A peer that floods us with bad messages must not
 * flood the daemon log too: the lines suppressed in between are counted and reported with the
 * next line for that key.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number, suppressed: number }>()
  private readonly periodMs: number
  private readonly maxKeys: number

  constructor (private readonly logger: Logger, init: { periodMs?: number, maxKeys?: number, now?: () => number } = {}) {
    this.periodMs = init.periodMs ?? LOG_RATE_LIMIT_MS
    this.maxKeys = init.maxKeys ?? 1024
    if (init.now != null) this.now = init.now
  }

  private now: () => number = () => Date.now()

  /** log `msg` under `key` unless a line with the same key was logged within the period */
  log (level: Level, key: string, msg: string, fields: Record<string, unknown> = {}): void {
    const now = this.now()
    const entry = this.last.get(key)
    if (entry != null && now - entry.at < this.periodMs) {
      entry.suppressed++
      return
    }
    const suppressed = entry?.suppressed ?? 0
    // the map is a bounded memory of recent keys, not a history: forgetting one only lets a line through
    if (entry == null && this.last.size >= this.maxKeys) this.last.clear()
    this.last.set(key, { at: now, suppressed: 0 })
    this.logger[level](msg, suppressed > 0 ? { ...fields, suppressed } : fields)
  }
}
