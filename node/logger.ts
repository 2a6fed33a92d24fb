import { createWriteStream } from 'node:fs'
import type { Logger } from '../store/logger.js'
import type { WriteStream } from 'node:fs'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = typeof LOG_LEVELS[number]

/** Where log lines go: a file in the home for the daemon, nothing for library use. */
export interface LogSink {
  write: (line: string) => void
  close: () => Promise<void>
}

export function fileSink (path: string): LogSink {
  const stream: WriteStream = createWriteStream(path, { flags: 'a', mode: 0o600 })
  stream.on('error', () => {}) // a failing log must never take the daemon down
  return {
    write: line => { stream.write(line) },
    close: async () => { await new Promise<void>(resolve => stream.end(resolve)) }
  }
}

function safe (fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(fields)) {
    out[k] = v instanceof Error ? { name: v.name, code: (v as any).code, message: v.message, stack: v.stack } : v
  }
  return out
}

/**
 * A leveled, scoped logger writing JSON lines (`{"t":…,"level":…,"scope":"cit:exec","msg":…}`).
 * The daemon never writes to stdout: only cli/ prints for people.
 */
export function createLogger (sink: LogSink, scope: string, level: LogLevel = 'info'): Logger & { child: (s: string) => Logger } {
  const min = LOG_LEVELS.indexOf(level)
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LOG_LEVELS.indexOf(lvl) < min) return
    let line: string
    try {
      line = JSON.stringify({ t: Date.now(), level: lvl, scope, msg, ...(fields == null ? {} : safe(fields)) })
    } catch {
      line = JSON.stringify({ t: Date.now(), level: lvl, scope, msg })
    }
    sink.write(line + '\n')
  }
  return {
    debug: (m, f) => { emit('debug', m, f) },
    info: (m, f) => { emit('info', m, f) },
    warn: (m, f) => { emit('warn', m, f) },
    error: (m, f) => { emit('error', m, f) },
    child: (s: string) => createLogger(sink, `${scope}:${s}`, level)
  }
}
