/**
 * A repository registered with the mesh (`cit-node repo add`): a signed `repo` record every member
 * learns, by gossip on the trust topic and by sync from the record log like every other record.
 * The newest record of a name wins (`at`, then the larger hash); a removal is a record with
 * `removed`. Secrets (webhook secret, forge token) never travel: each node keeps its own.
 */
import { isRecord } from '../../protocols/codec/index.js'

export const REPO_RECORD_TYPE = 'repo'
/** the job file a repository's commits are built with, when `--job` does not say */
export const DEFAULT_JOB_PATH = '.cit.yaml'
export const MAX_BRANCH_GLOBS = 32
export const FORGES = ['github', 'forgejo'] as const
export type Forge = typeof FORGES[number]

export interface RepoRecord {
  name: string
  /** where to fetch it: a URL git understands, or an absolute path on the members */
  url: string
  /** the job file (or a folder of job files) in the repository */
  job: string
  /** which pushed branches trigger (globs, `*` any run of characters but `/`, `**` any); empty: every branch */
  branches: string[]
  /** the forge whose webhooks and commit statuses this repository uses */
  forge?: Forge
  /** `OWNER/REPO` on the forge */
  project?: string
  /** the forge's API root (default: GitHub's public API) */
  apiUrl?: string
  /** ms since the epoch, by the signer's clock: the newest record of a name wins */
  at: number
  /** a removal */
  removed?: true
  /** in a mesh: its id, so a key that is a member of two meshes cannot carry the record from one to the other */
  mesh?: string
}

export const REPO_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/
const PROJECT_PATTERN = /^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/
const MAX_TEXT = 1024
const text = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT && !/[\0\n\r]/.test(v)

/** the problems of a repo record (from a peer or from `repo add`), each by its field */
export function repoRecordProblems (raw: unknown): Array<{ path: string, message: string }> {
  const problems: Array<{ path: string, message: string }> = []
  const add = (path: string, message: string): void => { problems.push({ path, message }) }
  if (!isRecord(raw)) return [{ path: '', message: 'a repo record is a map' }]
  for (const k of Object.keys(raw)) if (!['name', 'url', 'job', 'branches', 'forge', 'project', 'apiUrl', 'at', 'removed', 'mesh'].includes(k)) add(k, 'unknown field')
  if (typeof raw.name !== 'string' || !REPO_NAME_PATTERN.test(raw.name)) add('name', 'letters, digits, ".", "_" and "-", at most 64, not starting with "." or "-"')
  if (!Number.isSafeInteger(raw.at) || (raw.at as number) < 0) add('at', 'not a time')
  if (raw.removed !== undefined && raw.removed !== true) add('removed', 'only true')
  if (raw.mesh !== undefined && (typeof raw.mesh !== 'string' || !/^[0-9a-f]{64}$/.test(raw.mesh))) add('mesh', 'a mesh id')
  if (raw.removed === true) return problems
  if (!text(raw.url) || raw.url.startsWith('-')) add('url', 'a git URL or an absolute path')
  if (!text(raw.job) || raw.job.startsWith('/') || raw.job.split('/').includes('..')) add('job', 'a path inside the repository')
  if (!Array.isArray(raw.branches) || raw.branches.length > MAX_BRANCH_GLOBS || !raw.branches.every(text)) add('branches', `a list of at most ${MAX_BRANCH_GLOBS} globs`)
  if (raw.forge !== undefined && !FORGES.includes(raw.forge as Forge)) add('forge', `one of ${FORGES.join(', ')}`)
  if (raw.project !== undefined && (typeof raw.project !== 'string' || !PROJECT_PATTERN.test(raw.project))) add('project', 'OWNER/REPO')
  if ((raw.forge === undefined) !== (raw.project === undefined)) add('project', 'a forge and its OWNER/REPO go together')
  if (raw.apiUrl !== undefined && (!text(raw.apiUrl) || !/^https?:\/\/[^\s]+$/.test(raw.apiUrl))) add('apiUrl', 'an http(s) URL')
  return problems
}

/** whether a pushed branch matches the record's globs (none: every branch) */
export function branchMatches (globs: readonly string[], branch: string): boolean {
  if (globs.length === 0) return true
  return globs.some(g => globToRegExp(g).test(branch))
}

function globToRegExp (glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]
    if (c === '*' && glob[i + 1] === '*') { re += '.*'; i++ } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}
