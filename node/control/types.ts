import type { JobSource } from '../../protocols/job/source.js'
import type { EventView, JobSummary, JobView } from '../jobs/types.js'
import type { AttachSession } from '../../protocols/attach/index.js'
import type { NixImportReport, NixSubmitBody } from '../nix/index.js'
import type { ProvenanceReport } from '../provenance/index.js'
import type { JobState } from '../../protocols/job/records.js'
import type { JobSpec } from '../../protocols/job/types.js'
import type { TokenView } from '../http/tokens.js'

export interface StatusView {
  peerId: string
  pid: number
  addrs: string[]
  mesh: string | null
  /** `revoked` once an admin has revoked every role of this node's key */
  state: 'active' | 'paused' | 'draining' | 'revoked'
  labels: string[]
  load: { load1: number, cores: number, memFreeBytes: number, slotsFree: number }
  running: string[]
  /** `sandbox`: jobs run as an unprivileged user in namespaces of their own; `none`: as the daemon's user */
  isolation: 'sandbox' | 'none'
  /** how jobs are isolated, or why they are not */
  isolationDetail: string
  home: string
  startedAt: number
  /** roles this node's key holds in its mesh */
  roles: string[]
  /** peers connected now */
  connected: number
  /** the Nix binary cache's public key (`NAME:base64`, for `trusted-public-keys`); null until it is loaded */
  nixCacheKey: string | null
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
  /** run it on this node only (`cit-node run`: here and now) */
  here?: boolean
  /** a trigger's repository and commit (node/triggers) */
  source?: JobSource
}

/** A byte stream the control server copies to the client, ending when it ends. */
export interface OutputStream {
  /** bytes already there (scrollback or the stored recording) */
  replay: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>
  /** with follow: subscribe to live bytes; returns an unsubscribe function */
  follow?: (onData: (chunk: Uint8Array) => void, onEnd: () => void) => () => void
}

/** Filters and paging of the jobs list (the HTTP API's `GET /api/v1/jobs`). */
export interface JobQuery {
  /** any of these states */
  state?: JobState[]
  /** exact job name */
  name?: string
  /** the repository a trigger built (`source.repo`, or the `CIT_REPO` parameter) */
  repo?: string
  /** a peer id (or a prefix of at least 6 characters) that ran or submitted the job */
  node?: string
  /** at most this many jobs (default 50, at most 500) */
  limit?: number
  /** `next` of the previous page */
  cursor?: string
}

/** A row of the jobs list: the `jobs --json` fields and what a list page shows. */
export interface JobListItem extends JobSummary {
  origin: string
  exitCode: number | null
  reason: string | null
  startedAt: number | null
  finishedAt: number | null
  /** build number and trigger source, when the job has them */
  build?: number
  source?: { repo?: string, commit?: string, ref?: string }
}

export interface JobPage {
  jobs: JobListItem[]
  /** cursor of the next (older) page; null at the end */
  next: string | null
}

/** One job event as watchers see it: what happened to which job, where and when. */
export type JobWatchEvent = Pick<EventView, 'type' | 'node' | 'at' | 'state' | 'reason'> & { job: string, epoch?: number, wallMs?: number }

/** Told of each job event this node records (its own and peers'), with the job as it is after it. */
export type JobWatcher = (event: JobWatchEvent, job: JobListItem | undefined) => void

/** What the daemon offers its control socket. */
export interface ControlHandlers {
  status: () => Promise<StatusView>
  submit: (body: SubmitBody) => Promise<JobView>
  list: (options: { limit?: number }) => Promise<JobSummary[]>
  show: (ref: string) => Promise<JobView>
  cancel: (ref: string) => Promise<JobView>
  wait: (ref: string, signal: AbortSignal) => Promise<JobView>
  /** `signal`: the caller went away (a follower of a queued job stops waiting for it to start) */
  output: (ref: string, follow: boolean, signal?: AbortSignal) => Promise<OutputStream>
  /** a blob's bytes (fetched from its holders first if need be), verified; `start`/`end` for a byte range */
  blob: (hash: string, options?: { start?: number, end?: number, signal?: AbortSignal }) => Promise<{ size: number, stream: AsyncIterable<Uint8Array> }>
  /** stop the daemon: running jobs are handed over, or with `wait` finished first */
  stop: (options?: { wait?: boolean }) => Promise<void>
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
  /** the binary cache's `nix-cache-info` */
  nixCacheInfo: () => string
  /** the signed narinfo of the store path with this hash part (ERR_NIX_PATH_NOT_FOUND when unknown) */
  nixNarinfo: (hashPart: string, signal?: AbortSignal) => Promise<string>
  /** a NAR by the file name its narinfo gives, read out of the closure blob that holds it */
  nixNar: (file: string, signal?: AbortSignal) => Promise<{ size: number, stream: AsyncIterable<Uint8Array> }>
  verify: (body: { hash: string, envelope?: string }, signal?: AbortSignal) => Promise<ProvenanceReport>
  rebuild: (ref: string) => Promise<JobView>
  openAttach: (ref: string, mode: 'ro' | 'rw', size: { cols?: number, rows?: number }, signal?: AbortSignal) => Promise<AttachSession>
  /** jobs newest first, filtered and paged */
  findJobs: (query: JobQuery) => Promise<JobPage>
  /** subscribe to every job event; returns the unsubscribe function */
  watchJobs: (watcher: JobWatcher) => () => void
  /** the job's spec (stages, steps, artefact globs) as announced */
  jobSpec: (ref: string) => Promise<{ id: string, spec: JobSpec }>
  /** submit a job again with the same spec, parameters and priority (signed by this node) */
  rerun: (ref: string) => Promise<JobView>
  /** bearer tokens for the HTTP face */
  tokenCreate: (body: { role?: unknown, ttlMs?: unknown, label?: unknown }) => Promise<TokenView & { token: string }>
  tokenList: () => Promise<TokenView[]>
  tokenRevoke: (id: string, options?: { purge?: boolean }) => Promise<TokenView>
  /** the valid token this bearer text is, else undefined */
  tokenCheck: (text: string) => Promise<TokenView | undefined>
}
