/**
 * Reading a job's asciicast v2 recording for people: its plain text (escape sequences removed)
 * and its steps (the executor's markers: `stage: T / step: S` before each command, `exit N` after).
 */
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'

/** One command of a run as the recording's markers tell it. */
export interface StepRecord {
  /** `job: onStart`, `stage: build / step: make`, `stage: build / onSuccess`… */
  label: string
  stage: string | null
  /** the step's title, or the hook's name (onStart, onSuccess, onFailure) */
  title: string
  hook: boolean
  /** ms since the epoch */
  startedAt: number
  endedAt: number | null
  /** null: stopped (timeout, cancel) or not recorded */
  exitCode: number | null
}

export interface CastSummary {
  width: number
  height: number
  startedAt: number
  steps: StepRecord[]
  /** the executor's last word: `succeeded`, `failed: step "make" …` */
  outcome: string | null
  /** the end of the terminal output (raw, escapes kept), when asked for with `tail` */
  output: string
  /** the output was longer than `tail` */
  truncated: boolean
}

const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b[@-Z\\-_]|\x1b[ -/]+[0-~]/g
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g

/** One line of terminal text as a person reads it: escapes gone, a carriage return overwrites. */
export function plainLine (line: string): string {
  const text = line.replace(ESCAPES, '').replace(/\r+$/, '')
  const cr = text.lastIndexOf('\r')
  return (cr >= 0 ? text.slice(cr + 1) : text).replace(CONTROLS, '')
}

/** Terminal output (strings or bytes) as plain text lines, streamed. */
export async function * plainText (source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let carry = ''
  for await (const chunk of source) {
    carry += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true })
    const lines = carry.split('\n')
    carry = lines.pop() ?? ''
    // a line without an end (a progress bar) is bounded: it is shown as it stands
    if (carry.length > 64 * 1024) { lines.push(carry); carry = '' }
    if (lines.length > 0) yield lines.map(plainLine).join('\n') + '\n'
  }
  carry += decoder.decode()
  if (carry !== '') yield plainLine(carry) + '\n'
}

/**
 * The header and markers of a recording, read as a stream; with `tail`, also the last `tail`
 * characters of its output (older output is let go as it is read).
 */
export async function summarizeCast (source: AsyncIterable<Uint8Array>, options: { tail?: number, startedAt?: number } = {}): Promise<CastSummary> {
  const lines = createInterface({ input: Readable.from(source), crlfDelay: Infinity })
  const out: CastSummary = { width: 80, height: 24, startedAt: 0, steps: [], outcome: null, output: '', truncated: false }
  const tail = options.tail ?? 0
  const kept: string[] = []
  let keptLength = 0
  let first = true
  let open: StepRecord | undefined
  for await (const line of lines) {
    if (first) {
      first = false
      const h = safeParse(line) as { width?: number, height?: number, timestamp?: number } | undefined
      out.width = h?.width ?? 80
      out.height = h?.height ?? 24
      out.startedAt = (h?.timestamp ?? 0) * 1000
      // the header has whole seconds: the job's `started` event (same clock, a moment before the
      // recording opens) gives the milliseconds
      const s = options.startedAt
      if (s != null && s >= out.startedAt && s < out.startedAt + 1000) out.startedAt = s
      continue
    }
    if (tail > 0 && line.includes('"o"')) {
      const o = safeParse(line)
      if (Array.isArray(o) && o[1] === 'o' && typeof o[2] === 'string') {
        kept.push(o[2])
        keptLength += o[2].length
        while (keptLength - kept[0].length > tail) { keptLength -= kept.shift()!.length; out.truncated = true }
      }
      continue
    }
    // only markers matter here: skip output lines without parsing them
    if (!line.includes('"m"')) continue
    const ev = safeParse(line)
    if (!Array.isArray(ev) || ev[1] !== 'm' || typeof ev[2] !== 'string' || typeof ev[0] !== 'number') continue
    const at = out.startedAt + Math.round(ev[0] * 1000)
    const label: string = ev[2]
    const exit = /^exit (-?\d+|-)$/.exec(label)
    if (exit != null) {
      if (open != null) {
        open.endedAt = at
        open.exitCode = exit[1] === '-' ? null : Number(exit[1])
        open = undefined
      }
    } else if (label.startsWith('cit: ')) {
      if (open != null) open.endedAt = at
      open = undefined
      out.outcome = label.slice(5)
    } else {
      if (open != null) open.endedAt = at
      open = stepOf(label, at)
      out.steps.push(open)
    }
  }
  out.output = kept.join('')
  if (out.output.length > tail && tail > 0) { out.output = out.output.slice(-tail); out.truncated = true }
  return out
}

function stepOf (label: string, at: number): StepRecord {
  const base = { label, startedAt: at, endedAt: null, exitCode: null }
  const job = /^job: (.*)$/.exec(label)
  if (job != null) return { ...base, stage: null, title: job[1], hook: true }
  const step = /^stage: (.*) \/ step: (.*)$/.exec(label)
  if (step != null) return { ...base, stage: step[1], title: step[2], hook: false }
  const hook = /^stage: (.*) \/ (on[A-Z]\w*)$/.exec(label)
  if (hook != null) return { ...base, stage: hook[1], title: hook[2], hook: true }
  return { ...base, stage: null, title: label, hook: false }
}

function safeParse (line: string): unknown {
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}
