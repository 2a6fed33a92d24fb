/**
 * A job's terminal output for where it goes. A terminal gets the bytes as recorded; a pipe or a
 * file gets LF line ends instead of the terminal's CRLF (what tools that read lines expect);
 * `--plain` also drops escape sequences (colours, cursor moves, titles) and turns a lone CR
 * (a progress line redrawn) into a line end. Chunks may split a CRLF, an escape sequence or a
 * UTF-8 character anywhere: what could be the start of one waits for the next chunk.
 */

/** CSI (colours, cursor), OSC (titles, links; ends with BEL or ST), charset selection, and two-byte escapes */
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()*+][0-9A-Za-z]|\x1b[@-Z\\^_=>78]/g
/** an escape sequence cut off at the end of a chunk */
const UNFINISHED = /\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|[()*+])?$/

export type OutputMode = 'raw' | 'lf' | 'plain'

/** the mode for a destination: raw on a terminal, LF in a pipe or file, plain when asked */
export function outputMode (options: { plain: boolean, isTTY: boolean }): OutputMode {
  return options.plain ? 'plain' : options.isTTY ? 'raw' : 'lf'
}

export class TerminalText {
  private readonly decoder = new TextDecoder('utf-8')
  private carry = ''

  constructor (private readonly mode: OutputMode) {}

  /** the text of this chunk that can go out now */
  push (chunk: Uint8Array | string): Uint8Array | string {
    if (this.mode === 'raw') return chunk
    const text = this.carry + (typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true }))
    let keep = 0
    if (this.mode === 'plain') {
      const m = UNFINISHED.exec(text)
      if (m != null) keep = text.length - m.index
    }
    if (keep === 0 && text.endsWith('\r')) keep = 1
    this.carry = text.slice(text.length - keep)
    return this.convert(text.slice(0, text.length - keep))
  }

  /** whatever was held back, at the end of the output */
  end (): string {
    const rest = this.mode === 'raw' ? '' : this.carry + this.decoder.decode()
    this.carry = ''
    return rest === '' ? '' : this.convert(rest)
  }

  private convert (text: string): string {
    if (this.mode === 'plain') return text.replace(ESCAPES, '').replace(/\r+\n/g, '\n').replace(/\r/g, '\n')
    return text.replace(/\r+\n/g, '\n')
  }
}

/** copy output through a TerminalText to `write` */
export async function writeConverted (source: AsyncIterable<Uint8Array | string>, mode: OutputMode, write: (chunk: Uint8Array | string) => Promise<void>, onChunk?: () => void): Promise<void> {
  const text = new TerminalText(mode)
  for await (const chunk of source) {
    onChunk?.()
    const out = text.push(chunk)
    if (out.length > 0) await write(out)
  }
  const rest = text.end()
  if (rest !== '') await write(rest)
}
