import { AttachClosedError } from './errors.js'
import type { AttachStream } from './util.js'

/**
 * One end of an in-memory stream pair. A session with a job on this node runs over a pair
 * (libp2p cannot dial itself); the bytes are bounded as over the network: output by the viewer's
 * credit, input by the session's rate.
 */
class MemoryEnd implements AttachStream {
  other!: MemoryEnd
  private readonly inbox: Uint8Array[] = []
  private inboxEnded = false
  private inboxError?: Error
  private writeClosed = false
  private wake?: () => void

  send (data: Uint8Array): boolean {
    if (this.writeClosed) throw new AttachClosedError('the stream is closed for writing')
    this.other.deliver(data)
    return true
  }

  async onDrain (): Promise<void> {}

  async close (): Promise<void> {
    if (this.writeClosed) return
    this.writeClosed = true
    this.other.endInbox()
  }

  abort (err: Error): void {
    this.writeClosed = true
    this.endInbox(err)
    this.other.writeClosed = true
    this.other.endInbox(new AttachClosedError('the other side reset the stream', { cause: err }))
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    for (;;) {
      const chunk = this.inbox.shift()
      if (chunk !== undefined) {
        yield chunk
        continue
      }
      if (this.inboxError != null) throw this.inboxError
      if (this.inboxEnded) return
      await new Promise<void>(resolve => { this.wake = resolve })
    }
  }

  private deliver (data: Uint8Array): void {
    if (this.inboxEnded) return
    this.inbox.push(data)
    this.poke()
  }

  private endInbox (err?: Error): void {
    if (this.inboxEnded) return
    this.inboxEnded = true
    // a reset throws away what was not read yet, as a libp2p stream does
    if (err != null) {
      this.inboxError = err
      this.inbox.length = 0
    }
    this.poke()
  }

  private poke (): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}

/** two connected in-memory stream ends: what one sends, the other reads */
export function pairedStreams (): [AttachStream, AttachStream] {
  const a = new MemoryEnd()
  const b = new MemoryEnd()
  a.other = b
  b.other = a
  return [a, b]
}
