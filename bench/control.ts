import { Agent } from 'node:http'
import { ControlClient } from '../cli/client.js'
import { CliError } from '../cli/errors.js'

/** what the daemon reports after fetching a blob */
export interface FetchResult { sha256: string, size: number, local: boolean, bytesFetched: number, holders: Record<string, number> }

/**
 * The daemon's control API spoken directly, through the CLI's client with a keep-alive connection
 * pool: the bench measures the daemon, not the start-up of a CLI process per request. What only
 * the bench needs (arrival times of progress lines and of a job's first output byte) is here.
 */
export class Control {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 })
  private readonly client: ControlClient

  constructor (readonly socketPath: string) {
    this.client = new ControlClient(socketPath, socketPath, { agent: this.agent })
  }

  close (): void {
    this.agent.destroy()
  }

  /** a JSON request; an error reply becomes a CliError with its code */
  async json<T = any>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return await this.client.request<T>(method, path, body, signal)
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
    const res = await this.client.open('POST', `/v1/blobs/${hash}/fetch`, undefined, signal)
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
      throw new CliError(String(e.code ?? 'ERR_INTERNAL'), String(e.message ?? `HTTP ${String(res.statusCode)}`))
    }
    if (last?.result == null) throw new CliError('ERR_BAD_REPLY', 'the fetch ended without a result')
    return { result: last.result, progress }
  }

  /** true once this node knows the job (the show route answers 404 before) */
  async knows (id: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.show(id, signal)
      return true
    } catch (err: any) {
      if (err instanceof CliError && err.code === 'ERR_JOB_NOT_FOUND') return false
      throw err
    }
  }

  /**
   * Follow a job's output and resolve at its first byte (the time it arrived), or with null if
   * the output ended empty. The stream is closed either way.
   */
  async firstByte (id: string, signal?: AbortSignal): Promise<number | null> {
    const res = await this.client.stream(`/v1/jobs/${id}/output?follow=1`, signal)
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
