import { seal } from '../../protocols/codec/index.js'
import { InvalidInputError } from '../errors.js'
import { ForbiddenError } from '../mesh/mesh-admin.js'
import { RepoNotFoundError } from './errors.js'
import { REPO_RECORD_TYPE, repoRecordProblems } from './repo-record.js'
import type { Identity, Signed } from '../../protocols/codec/index.js'
import type { MetaStore, RecordLog } from '../../store/meta/index.js'
import type { Logger } from '../../store/logger.js'
import type { RepoRecord } from './repo-record.js'

const T_REPOS = 'repos'
const T_LOCAL = 'repo-local'

interface StoredRepo { record: RepoRecord, hash: string, signer: string }

/** What this node alone knows of a repository: its secrets and what happened lately. */
export interface RepoLocal {
  /** the webhook secret (HMAC key) */
  secret?: string
  /** the forge token commit statuses are posted with */
  token?: string
  /**
   * where the secrets were given for (url, forge, project, apiUrl of the record then): a newer
   * record from another member that points elsewhere (another API, another repository) does not
   * get them, so no member can redirect this node's token or its fetches
   */
  boundTo?: string
  lastDelivery?: { at: number, id?: string, event: string, outcome: string }
  lastStatus?: { at: number, job: string, commit: string, state: string, outcome: string }
}

/** a repository as `repo list --json` shows it (secrets only as whether they are set) */
export interface RepoView extends RepoRecord {
  signer: string
  hasSecret: boolean
  hasToken: boolean
  lastDelivery: RepoLocal['lastDelivery'] | null
  lastStatus: RepoLocal['lastStatus'] | null
}

export interface RepoAddBody {
  name?: unknown
  url?: unknown
  job?: unknown
  branches?: unknown
  forge?: unknown
  project?: unknown
  apiUrl?: unknown
  secret?: unknown
  token?: unknown
}

export interface RepoRegistryComponents {
  identity: Identity
  meta: MetaStore
  recordLog: RecordLog
  /** spread a record this node signed to the mesh (nothing when alone) */
  publish: (signed: Signed<unknown>) => void
  /** whether a key may register repositories (submit or admin); undefined: a node alone, only its own key */
  mayRegister?: (keyId: string) => boolean
  /** the mesh's id, which every record this node signs names (none alone) */
  mesh?: () => string | null
  logger: Logger
}

/**
 * The repositories of the mesh: signed records kept in LevelDB and the record log (so sync
 * carries them), the newest per name in memory. Ingest hands peers' records to `check`/`apply`.
 */
export class RepoRegistry {
  readonly types: ReadonlySet<string> = new Set([REPO_RECORD_TYPE])
  private readonly repos = new Map<string, StoredRepo>()
  private started = false

  constructor (private readonly c: RepoRegistryComponents) {}

  async start (): Promise<void> {
    if (this.started) return
    for await (const [name, stored] of this.c.meta.table<StoredRepo>(T_REPOS).entries()) this.repos.set(name, stored)
    this.started = true
  }

  /** why a peer's record is refused, or undefined */
  check (signed: Signed<unknown>): string | undefined {
    const problems = repoRecordProblems(signed.payload)
    if (problems.length > 0) return `${problems[0].path}: ${problems[0].message}`
    if (!this.mayRegister(signed.signer)) return 'the signer holds neither the submit nor the admin role'
    return undefined
  }

  /** keep a checked record; false when it was known already */
  async apply (bytes: Uint8Array, signed: Signed<unknown>): Promise<boolean> {
    if (await this.c.recordLog.has(signed.hash)) return false
    const record = signed.payload as RepoRecord
    const current = this.repos.get(record.name)
    const newer = current == null || record.at > current.record.at || (record.at === current.record.at && signed.hash > current.hash)
    const stored: StoredRepo = { record, hash: signed.hash, signer: signed.signer }
    await this.c.meta.batch([
      ...(newer ? [{ type: 'put' as const, table: T_REPOS, key: record.name, value: stored }] : []),
      ...this.c.recordLog.appendOps(signed.hash, bytes)
    ], { sync: true })
    if (newer) this.repos.set(record.name, stored)
    this.c.logger.info(record.removed === true ? 'repository removed' : 'repository registered', { name: record.name, by: signed.signer, newer })
    return true
  }

  /** `repo add`: validated, signed, kept and spread; the secrets stay on this node */
  async add (body: RepoAddBody): Promise<RepoView> {
    const record: Record<string, unknown> = { name: body.name, url: body.url, job: body.job ?? undefined, branches: body.branches ?? [], at: this.nextAt(String(body.name)) }
    for (const k of ['forge', 'project', 'apiUrl'] as const) if (body[k] != null) record[k] = body[k]
    record.job ??= '.cit.yaml'
    const problems = repoRecordProblems(record)
    for (const k of ['secret', 'token'] as const) {
      if (body[k] != null && (typeof body[k] !== 'string' || (body[k] as string).trim() === '' || (body[k] as string).length > 4096)) problems.push({ path: k, message: 'a non-empty text of at most 4096 characters' })
    }
    if (problems.length > 0) throw new InvalidInputError(`invalid repository: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`, problems)
    this.checkMayRegister()
    await this.sign(record as unknown as RepoRecord)
    if (body.secret != null || body.token != null) {
      await this.setLocal(record.name as string, { secret: (body.secret as string | undefined)?.trim(), token: (body.token as string | undefined)?.trim() })
    }
    // what this node's secrets are for from now on: the record just signed
    if ((await this.local(record.name as string)).secret != null || (await this.local(record.name as string)).token != null) {
      await this.setLocal(record.name as string, { boundTo: binding(record as unknown as RepoRecord) })
    }
    return await this.view(this.repos.get(record.name as string)!)
  }

  /** `repo remove`: a signed removal every member learns */
  async remove (name: string): Promise<{ name: string, removed: true }> {
    if (this.get(name) == null) throw new RepoNotFoundError(name)
    this.checkMayRegister()
    await this.sign({ name, at: this.nextAt(name), removed: true } as unknown as RepoRecord)
    await this.c.meta.batch([{ type: 'del', table: T_LOCAL, key: name }])
    return { name, removed: true }
  }

  /** the live record of a name (not removed) */
  get (name: string): RepoRecord | undefined {
    const r = this.repos.get(name)?.record
    return r == null || r.removed === true ? undefined : r
  }

  /** the live record whose URL is this one (a hook knows its path, not always the name) */
  byUrl (url: string): RepoRecord | undefined {
    for (const s of this.repos.values()) if (s.record.removed !== true && s.record.url === url) return s.record
    return undefined
  }

  async list (): Promise<RepoView[]> {
    const out: RepoView[] = []
    for (const s of [...this.repos.values()].sort((a, b) => a.record.name.localeCompare(b.record.name))) {
      if (s.record.removed !== true) out.push(await this.view(s))
    }
    return out
  }

  async local (name: string): Promise<RepoLocal> {
    return (await this.c.meta.table<RepoLocal>(T_LOCAL).get(name)) ?? {}
  }

  /**
   * The secret and token of a live repository, only while its record still says what it said when
   * they were given here; otherwise none, and `changed` says why.
   */
  async secrets (name: string): Promise<{ secret?: string, token?: string, changed: boolean }> {
    const record = this.get(name)
    const local = await this.local(name)
    if (record == null) return { changed: false }
    if (local.boundTo != null && local.boundTo !== binding(record)) {
      this.c.logger.warn('the repository\'s record changed since its secrets were given here: they are not used until `repo add` again', { name })
      return { changed: true }
    }
    return { secret: local.secret, token: local.token, changed: false }
  }

  /** merge into what this node keeps of a repository (last delivery, last status post, secrets) */
  async setLocal (name: string, patch: Partial<RepoLocal>): Promise<void> {
    const current = await this.local(name)
    const next = { ...current, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) }
    await this.c.meta.batch([{ type: 'put', table: T_LOCAL, key: name, value: next }])
  }

  private async view (s: StoredRepo): Promise<RepoView> {
    const local = await this.local(s.record.name)
    const bound = local.boundTo == null || local.boundTo === binding(s.record)
    return { ...s.record, signer: s.signer, hasSecret: bound && local.secret != null, hasToken: bound && local.token != null, lastDelivery: local.lastDelivery ?? null, lastStatus: local.lastStatus ?? null }
  }

  private mayRegister (keyId: string): boolean {
    return this.c.mayRegister?.(keyId) ?? keyId === this.c.identity.id
  }

  private checkMayRegister (): void {
    if (!this.mayRegister(this.c.identity.id)) {
      throw new ForbiddenError(`this node's key ${this.c.identity.id} holds neither the submit nor the admin role`)
    }
  }

  /** later than every record of the name known here, so this one wins even against a skewed clock */
  private nextAt (name: string): number {
    return Math.max(Date.now(), (this.repos.get(name)?.record.at ?? 0) + 1)
  }

  private async sign (record: RepoRecord): Promise<void> {
    const mesh = this.c.mesh?.()
    const signed = seal(this.c.identity, REPO_RECORD_TYPE, mesh != null ? { ...record, mesh } : record)
    await this.apply(signed.bytes, signed)
    this.c.publish(signed)
  }
}

/** the fields a node's secrets are bound to: where fetches and tokens go */
function binding (r: RepoRecord): string {
  return JSON.stringify([r.url, r.forge ?? null, r.project ?? null, r.apiUrl ?? null])
}
