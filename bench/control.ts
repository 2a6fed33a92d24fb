import { Agent, request } from 'node:http'
import type { IncomingMessage } from 'node:http'

/** what the daemon reports after fetching a blob */
export interface FetchResult { sha256: string, size: number, local: boolean, bytesFetched: number, holders: Record<string, number> }

/** an error reply of the control API, with its stable code */
export class ControlError extends Error {
  constructor (readonly code: string, readonly status: number, message: string) {
    super(message)
    this.name = 'ControlError'
  }
}

/**
 * The daemon's control API (HTTP over its Unix socket) spoken directly, with a keep-alive
 * connection pool: the bench measures the daemon, not the start-up of a CLI process per request.
 */
export class Control {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 })

  constructor (readonly socketPath: string) {}

  close (): void {
    this.agent.destroy()
  }

  private async send (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
      const req = request({
        socketPath: this.socketPath,
        agent: this.agent,
        method,
        path,
        signal,
        headers: data == null ? {} : { 'content-type': 'application/json', 'content-length': String(data.byteLength) }
      }, resolve)
      req.on('error', reject)
      req.end(data)
    })
  }

  /** a JSON request; an error reply becomes a ControlError with its code */
  async json<T = any>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.send(method, path, body, signal)
    const chunks: Buffer[] = []
    for await (const c of res) chunks.push(c as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    let parsed: any
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new ControlError('ERR_BAD_REPLY', res.statusCode ?? 0, `not JSON (HTTP ${String(res.statusCode)}): ${text.slice(0, 200)}`)
    }
    const status = res.statusCode ?? 500
    if (status >= 400) {
      throw new ControlError(String(parsed?.error?.code ?? 'ERR_INTERNAL'), status, String(parsed?.error?.message ?? `HTTP ${status}`))
    }
    return parsed as T
  }

  async status (signal?: AbortSignal): Promise<any> { return await this.json('GET', '/v1/status', undefined, signal) }
  async peers (signal?: AbortSignal): Promise<any[]> { return await this.json('GET', '/v1/peers', undefined, signal) }
  async submit (spec: unknown, signal?: AbortSignal): Promise<{ id: string, [k: string]: any }> {
    return await this.json('POST', '/v1/jobs', { spec }, signal)
  }

  async show (id: string, signal?: AbortSignal): Promise<any> { return await this.json('GET', `/v1/jobs/${id}`, undefined, signal) }
  async wait (id: string, signal?: AbortSignal): Promise<any> { return await this.json('GET', `/v1/jobs/${id}/wait`, undefined, signal) }
  async cancel (id: string): Promise<any> { return await this.json('POST', `/v1/jobs/${id}/cancel`) }
  async invite (roles: string[]): Promise<{ token: string }> { return await this.json('POST', '/v1/invites', { roles }) }

  /**
   * Have the daemon fetch a blob from whichever nodes hold it into its own store (verified), as
   * `cit-node fetch` does first. Resolves with the daemon's result and its progress lines, each
   * stamped with when it arrived (performance.now()).
   */
  async fetchBlob (hash: string, signal?: AbortSignal): Promise<{ result: FetchResult, progress: Array<{ at: number, done: number, total: number }> }> {
    const res = await this.send('POST', `/v1/blobs/${hash}/fetch`, undefined, signal)
    const progress: Array<{ at: number, done: number, total: number }> = []
    let last: any
    let carry = ''
    for await (const c of res) {
      const lines = (carry + (c as Buffer).toString('utf8')).split('\n')
      carry = lines.pop() ?? ''
      for (const line of lines.filter(l => l.trim() !== '')) {
        last = JSON.parse(line)
        if (last.progress != null) progress.push({ at: performance.now(), done: last.progress.done, total: last.progress.total })
      }
    }
    if (carry.trim() !== '') last = JSON.parse(carry)
    if ((res.statusCode ?? 500) >= 400 || last?.error != null) {
      const e = last?.error ?? {}
      throw new ControlError(String(e.code ?? 'ERR_INTERNAL'), res.statusCode ?? 500, String(e.message ?? `HTTP ${String(res.statusCode)}`))
    }
    if (last?.result == null) throw new ControlError('ERR_BAD_REPLY', res.statusCode ?? 0, 'the fetch ended without a result')
    return { result: last.result, progress }
  }

  /** true once this node knows the job (the show route answers 404 before) */
  async knows (id: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.show(id, signal)
      return true
    } catch (err: any) {
      if (err instanceof ControlError && err.status === 404) return false
      throw err
    }
  }

  /**
   * Follow a job's output and resolve at its first byte (the time it arrived), or with null if
   * the output ended empty. The stream is closed either way.
   */
  async firstByte (id: string, signal?: AbortSignal): Promise<number | null> {
    const res = await this.send('GET', `/v1/jobs/${id}/output?follow=1`, undefined, signal)
    if ((res.statusCode ?? 500) >= 400) {
      const chunks: Buffer[] = []
      for await (const c of res) chunks.push(c as Buffer)
      let e: any = {}
      try { e = JSON.parse(Buffer.concat(chunks).toString('utf8')).error ?? {} } catch {}
      throw new ControlError(String(e.code ?? 'ERR_OUTPUT'), res.statusCode ?? 500, `output of ${id.slice(0, 12)}: HTTP ${String(res.statusCode)} ${String(e.code ?? '')} ${String(e.message ?? '')}`.trim())
    }
    return await new Promise<number | null>((resolve, reject) => {
      const done = (v: number | null): void => {
        res.removeAllListeners('data')
        res.destroy()
        resolve(v)
      }
      res.on('data', (chunk: Buffer) => { if (chunk.byteLength > 0) done(performance.now()) })
      res.once('end', () => { done(null) })
      res.once('error', reject)
    })
  }
}
