import type { JobSummary, JobView } from '../jobs/types.js'
import type { AttachSession } from '../../protocols/attach/index.js'
import type { NixImportReport, NixSubmitBody } from '../nix/index.js'
import type { ProvenanceReport } from '../provenance/index.js'

export interface StatusView {
  peerId: string
  pid: number
  addrs: string[]
  mesh: string | null
  state: 'active' | 'paused' | 'draining'
  labels: string[]
  load: { load1: number, cores: number, memFreeBytes: number, slotsFree: number }
  running: string[]
  home: string
  startedAt: number
  /** roles this node's key holds in its mesh */
  roles: string[]
  /** peers connected now */
  connected: number
  /** messages from peers dropped, by reason */
  dropped: Record<string, number>
  /** gossip, sync and ingest counters (received, accepted, dropped by reason) */
  messages: Record<string, unknown> | null
}

export interface TrustView {
  mesh: string
  members: Array<{ keyId: string, roles: string[], grantedBy: string, since: number, via?: string }>
  revocations: Array<{ keyId?: string, subject?: string, by?: string, at?: number } | Record<string, unknown>>
}

export interface SubmitBody {
  /** a job spec as parsed from a job file; validated again by the daemon */
  spec: unknown
  /** `--param K=V` overrides */
  params?: Record<string, string>
  priority?: number
}

/** A byte stream the control server copies to the client, ending when it ends. */
export interface OutputStream {
  /** bytes already there (scrollback or the stored recording) */
  replay: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>
  /** with follow: subscribe to live bytes; returns an unsubscribe function */
  follow?: (onData: (chunk: Uint8Array) => void, onEnd: () => void) => () => void
}

/** What the daemon offers its control socket. */
export interface ControlHandlers {
  status: () => Promise<StatusView>
  submit: (body: SubmitBody) => Promise<JobView>
  list: (options: { limit?: number }) => Promise<JobSummary[]>
  show: (ref: string) => Promise<JobView>
  cancel: (ref: string) => Promise<JobView>
  wait: (ref: string, signal: AbortSignal) => Promise<JobView>
  output: (ref: string, follow: boolean) => Promise<OutputStream>
  blob: (hash: string) => Promise<{ size: number, stream: AsyncIterable<Uint8Array> }>
  stop: () => Promise<void>
  peers: () => Promise<unknown[]>
  setState: (state: 'active' | 'paused' | 'draining') => Promise<StatusView>
  invite: (body: { roles?: unknown, ttlMs?: number }) => Promise<{ token: string, roles: string[], expiresAt: number }>
  trustList: () => Promise<TrustView>
  trustGrant: (body: { key: string, roles: unknown, ttlMs?: number }) => Promise<{ hash: string }>
  trustRevoke: (body: { key: string }) => Promise<{ hash: string }>
  leave: () => Promise<{ left: boolean }>
  reprioritize: (ref: string, priority: number) => Promise<JobView>
  gc: () => Promise<unknown>
  fetchBlob: (hash: string, onProgress?: (done: number, total: number) => void, signal?: AbortSignal) => Promise<{ sha256: string, size: number, local: boolean, bytesFetched: number, holders: Record<string, number> }>
  submitNix: (body: NixSubmitBody) => Promise<JobView>
  nixImport: (ref: string, signal?: AbortSignal) => Promise<NixImportReport>
  verify: (body: { hash: string, envelope?: string }, signal?: AbortSignal) => Promise<ProvenanceReport>
  rebuild: (ref: string) => Promise<JobView>
  openAttach: (ref: string, mode: 'ro' | 'rw', size: { cols?: number, rows?: number }, signal?: AbortSignal) => Promise<AttachSession>
}
