import { parse } from '../context.js'
import { UsageError } from '../errors.js'
import type { Output } from '../output.js'
import type { EventsPage } from '../../node/triggers/events.js'

export const usage = 'cit-node events [--after CURSOR] [--follow] [--json]'
export const summary = 'every job announcement, event and result this node holds, one per line (--json: NDJSON with a cursor to resume from)'

/** how often --follow asks for new records */
export const FOLLOW_INTERVAL_MS = 500

interface Values { after?: string, follow?: boolean }

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<Values>(argv, { after: { type: 'string' }, follow: { type: 'boolean' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  if (p.positionals.length > 0) throw new UsageError('events takes no arguments', [`usage: ${usage}`])
  let after = p.values.after != null ? Number(p.values.after) : 0
  if (!Number.isSafeInteger(after) || after < 0) throw new UsageError('--after: a cursor (a whole number ≥ 0, the `cursor` of the last line read)')
  const client = p.ctx.client()
  const stop = new AbortController()
  const onSignal = (): void => { stop.abort() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    for (;;) {
      const page = await client.request<EventsPage>('GET', `/v1/events?after=${after}`, undefined, stop.signal).catch(err => {
        if (stop.signal.aborted) return undefined
        throw err
      })
      if (page == null) return 0
      for (const e of page.events) {
        io.out(p.ctx.json ? JSON.stringify(e) : `${e.cursor}  ${new Date(e.at).toISOString()}  ${e.job.slice(0, 12)}  ${e.type}${e.name != null ? ` ${e.name}` : ''}${e.state != null ? ` → ${e.state}` : ''}${e.reason != null ? `: ${e.reason}` : ''}`)
      }
      // a page that moved on (even past records that are not jobs') may have more behind it
      const moved = page.cursor > after
      after = page.cursor
      if (moved) continue
      if (p.values.follow !== true) return 0
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, FOLLOW_INTERVAL_MS)
        stop.signal.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
      })
      if (stop.signal.aborted) return 0
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
