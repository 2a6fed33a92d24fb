import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { parse, positionals } from '../context.js'
import { UsageError } from '../errors.js'
import { watchWaiting } from '../waiting.js'
import { TerminalText, outputMode, writeConverted } from '../plain.js'
import type { OutputMode } from '../plain.js'
import { stateWords } from '../../node/jobs/state-words.js'
import type { Output } from '../output.js'

export const usage = 'cit-node logs JOB [--follow] [--replay [--speed N]] [--plain]'
export const summary = "a job's terminal output from wherever it ran: the recording, live with --follow, or at its original pace with --replay; LF line ends when not on a terminal, --plain also drops escape sequences"

/** longest pause kept in a replay, in seconds of the recording (idle time is compressed) */
export const REPLAY_MAX_IDLE_S = 2

/** play an asciicast v2 recording's output at its pace (divided by `speed`) */
async function replay (source: AsyncIterable<Uint8Array>, speed: number, io: Output, mode: OutputMode): Promise<void> {
  const text = new TerminalText(mode)
  let first = true
  let last = 0
  for await (const line of createInterface({ input: Readable.from(source), crlfDelay: Infinity })) {
    if (first) { first = false; continue }
    let ev: unknown
    try { ev = JSON.parse(line) } catch { continue }
    if (!Array.isArray(ev) || ev[1] !== 'o' || typeof ev[0] !== 'number' || typeof ev[2] !== 'string') continue
    const wait = Math.min(REPLAY_MAX_IDLE_S, Math.max(0, ev[0] - last)) / speed
    last = ev[0]
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait * 1000))
    const out = text.push(ev[2])
    if (out.length > 0) await io.raw(out)
  }
  const rest = text.end()
  if (rest !== '') await io.raw(rest)
}

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<{ follow?: boolean, replay?: boolean, speed?: string, plain?: boolean }>(argv, {
    follow: { type: 'boolean', short: 'f' },
    replay: { type: 'boolean' },
    speed: { type: 'string' },
    plain: { type: 'boolean' }
  }, usage, io)
  // a terminal gets the recording as it is; a pipe or file gets LF line ends (and --plain no escapes)
  const mode = outputMode({ plain: p.values.plain === true, isTTY: io.isTTY })
  if (p.help) { io.out(`usage: ${usage}\n${summary}`); return 0 }
  const [ref] = positionals(p, ['JOB'], usage)
  const client = p.ctx.client()
  if (p.values.replay === true) {
    const speed = p.values.speed == null ? 1 : Number(p.values.speed)
    if (!(speed > 0 && speed <= 1000)) throw new UsageError(`--speed: ${JSON.stringify(p.values.speed)} is not a number between 0 and 1000`)
    const job = await client.show(ref)
    if (job.log == null) throw new UsageError(`job ${job.id.slice(0, 12)} has no recording yet (it ${stateWords(job.state)}); use --follow`)
    await client.fetchBlob(job.log)
    await replay(await client.blob(job.log), speed, io, mode)
    return 0
  }
  if (p.values.speed != null) throw new UsageError('--speed goes with --replay')
  // a job that has not started yet: say why it waits while the output is awaited
  const stopWatching = p.values.follow === true ? watchWaiting(async id => await client.show(id), ref, io) : () => {}
  try {
    await writeConverted(await client.output(ref, p.values.follow === true), mode, async chunk => { await io.raw(chunk) }, stopWatching)
  } finally {
    stopWatching()
  }
  return 0
}
