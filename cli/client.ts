import { request } from 'node:http'
import { CliError, DaemonUnreachableError } from './errors.js'
import type { Agent, IncomingMessage } from 'node:http'
import type { StatusView, SubmitBody, TrustView } from '../node/control/types.js'
import type { PeerView } from '../node/mesh/peer-table.js'
import type { JobSummary, JobView } from '../node/jobs/types.js'
import type { NixImportReport, NixSubmitBody } from '../node/nix/index.js'
import type { ProvenanceReport } from '../node/provenance/index.js'
import type { TokenView } from '../node/http/tokens.js'

/**
 * The daemon's control API (HTTP over the Unix socket in its home): each method is one request,
 * resolving with the daemon's reply or throwing the error it named (a CliError with its code).
 * The CLI makes one request per process; the bench passes a keep-alive `agent` to reuse sockets.
 */
export class ControlClient {
  constructor (private readonly socketPath: string, private readonly home: string, private readonly options: { agent?: Agent } = {}) {}

  /** one request; the reply as it comes (status and body stream), whatever its status */
  async open (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
      const req = request({
        socketPath: this.socketPath,
        agent: this.options.agent,
        method,
        path,
        signal,
        headers: data == null ? {} : { 'content-type': 'application/json', 'content-length': String(data.byteLength) }
      }, resolve)
      req.on('error', (err: any) => {
        if (['ENOENT', 'ECONNREFUSED', 'ENOTSOCK'].includes(err?.code)) reject(new DaemonUnreachableError(this.home))
        else reject(err)
      })
      req.end(data)
    })
  }

  /** one request with a JSON reply; an error reply throws its code and message */
  async request<T> (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.open(method, path, body, signal)
    const chunks: Buffer[] = []
    for await (const c of res) chunks.push(c as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    let parsed: any
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new CliError('ERR_BAD_REPLY', `the daemon answered with something that is not JSON (HTTP ${res.statusCode ?? '?'})`)
    }
    if ((res.statusCode ?? 500) >= 400) {
      const e = parsed?.error ?? {}
      const details = Array.isArray(e.problems) ? e.problems.map((p: any) => `${String(p.path)}: ${String(p.message)}`) : []
      throw new CliError(String(e.code ?? 'ERR_INTERNAL'), String(e.message ?? 'the daemon reported an error'), details)
    }
    return parsed as T
  }

  /** one GET whose reply is a byte stream; an error reply throws its code and message */
  async stream (path: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const res = await this.open('GET', path, undefined, signal)
    if ((res.statusCode ?? 500) >= 400) {
      const chunks: Buffer[] = []
      for await (const c of res) chunks.push(c as Buffer)
      let e: any = {}
      try { e = JSON.parse(Buffer.concat(chunks).toString('utf8')).error ?? {} } catch {}
      throw new CliError(String(e.code ?? 'ERR_INTERNAL'), String(e.message ?? 'the daemon reported an error'))
    }
    return res
  }

  async status (): Promise<StatusView> { return await this.request('GET', '/v1/status') }
  async submit (body: SubmitBody): Promise<JobView> { return await this.request('POST', '/v1/jobs', body) }
  async list (options: { limit?: number } = {}): Promise<JobSummary[]> {
    return await this.request('GET', `/v1/jobs${options.limit != null ? `?limit=${options.limit}` : ''}`)
  }

  async show (ref: string): Promise<JobView> { return await this.request('GET', `/v1/jobs/${encodeURIComponent(ref)}`) }
  async reprioritize (ref: string, priority: number): Promise<JobView> {
    return await this.request('POST', `/v1/jobs/${encodeURIComponent(ref)}/priority`, { priority })
  }

  async cancel (ref: string): Promise<JobView> { return await this.request('POST', `/v1/jobs/${encodeURIComponent(ref)}/cancel`) }
  async wait (ref: string, signal?: AbortSignal): Promise<JobView> {
    return await this.request('GET', `/v1/jobs/${encodeURIComponent(ref)}/wait`, undefined, signal)
  }

  async output (ref: string, follow: boolean, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    return await this.stream(`/v1/jobs/${encodeURIComponent(ref)}/output${follow ? '?follow=1' : ''}`, signal)
  }

  /** make a blob local on the daemon (fetched from its holders), with progress */
  async fetchBlob (hash: string, onProgress?: (done: number, total: number) => void): Promise<{ sha256: string, size: number, local: boolean, bytesFetched: number, holders: Record<string, number> }> {
    const res = await this.open('POST', `/v1/blobs/${encodeURIComponent(hash)}/fetch`)
    const { createInterface } = await import('node:readline')
    for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
      if (line === '') continue
      const m = JSON.parse(line)
      if (m.progress != null) onProgress?.(m.progress.done, m.progress.total)
      if (m.result != null) return m.result
      if (m.error != null) throw new CliError(String(m.error.code), String(m.error.message))
    }
    throw new CliError('ERR_BAD_REPLY', 'the daemon ended the fetch without a result')
  }

  async blob (hash: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    return await this.stream(`/v1/blobs/${encodeURIComponent(hash)}`, signal)
  }

  async stop (options: { wait?: boolean } = {}): Promise<void> { await this.request('POST', '/v1/stop', { wait: options.wait === true }) }
  async peers (): Promise<PeerView[]> { return await this.request('GET', '/v1/peers') }
  async setState (state: 'active' | 'paused' | 'draining'): Promise<StatusView> { return await this.request('POST', '/v1/state', { state }) }
  async invite (body: { roles?: string[], ttlMs?: number }): Promise<{ token: string, roles: string[], expiresAt: number }> {
    return await this.request('POST', '/v1/invites', body)
  }

  async trustList (): Promise<TrustView> { return await this.request('GET', '/v1/trust') }
  async trustGrant (body: { key: string, roles: string[], ttlMs?: number }): Promise<{ hash: string }> { return await this.request('POST', '/v1/trust/grant', body) }
  async trustRevoke (body: { key: string }): Promise<{ hash: string }> { return await this.request('POST', '/v1/trust/revoke', body) }
  async submitNix (body: NixSubmitBody): Promise<JobView> { return await this.request('POST', '/v1/nix/jobs', body) }
  async nixImport (ref: string): Promise<NixImportReport> { return await this.request('POST', '/v1/nix/import', { ref }) }
  /** the provenance of a hash; `envelope`: a statement's bytes to check instead of the one the result names */
  async verify (hash: string, envelope?: Uint8Array): Promise<ProvenanceReport> {
    return await this.request('POST', '/v1/verify', { hash, ...(envelope != null ? { envelope: Buffer.from(envelope).toString('base64') } : {}) })
  }

  async rebuild (ref: string): Promise<JobView> { return await this.request('POST', '/v1/rebuild', { ref }) }
  async gc (): Promise<any> { return await this.request('POST', '/v1/gc') }
  async leave (): Promise<{ left: boolean }> { return await this.request('POST', '/v1/leave') }
  async tokenCreate (body: { role: string, ttlMs?: number, label?: string }): Promise<TokenView & { token: string }> { return await this.request('POST', '/v1/tokens', body) }
  async tokenList (): Promise<TokenView[]> { return await this.request('GET', '/v1/tokens') }
  async tokenRevoke (id: string, purge = false): Promise<TokenView> { return await this.request('POST', `/v1/tokens/${encodeURIComponent(id)}/revoke${purge ? '?purge=1' : ''}`) }
}
