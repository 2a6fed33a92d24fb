/**
 * Where a triggered job's sources come from: the repository and the exact commit a push or a
 * pull request named. The submitter signs it with the announcement, so every member (and the
 * builder that checks it out) reads the same repository, commit and ref.
 */
import { isRecord } from '../codec/index.js'

export interface JobSource {
  /** the repository's name, as `cit-node repo add` registered it */
  repo: string
  /** where the builder fetches it from (a URL or an absolute path) */
  url: string
  /** the full commit id (40 or 64 hex digits) */
  commit: string
  /** the ref pushed (`refs/heads/main`, `refs/pull/25/head`) */
  ref: string
  /** the branch, for a push */
  branch?: string
  /** the pull request's number, for a pull request */
  pr?: number
}

export const MAX_SOURCE_TEXT_CHARS = 1024
const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/
const REPO_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/

const text = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_SOURCE_TEXT_CHARS && !/[\0\n\r]/.test(v)

/** the first problem of a `source` from anywhere, or undefined when it is well formed */
export function sourceProblem (raw: unknown): string | undefined {
  if (!isRecord(raw)) return 'source is not a map'
  if (Object.keys(raw).some(k => !['repo', 'url', 'commit', 'ref', 'branch', 'pr'].includes(k))) return 'source has unknown fields'
  if (typeof raw.repo !== 'string' || !REPO_NAME.test(raw.repo)) return 'source repo is not a repository name'
  if (!text(raw.url) || raw.url.startsWith('-')) return 'source url is malformed'
  if (typeof raw.commit !== 'string' || !COMMIT.test(raw.commit)) return 'source commit is not a full commit id'
  if (!text(raw.ref) || !raw.ref.startsWith('refs/')) return 'source ref is not a ref'
  if (raw.branch !== undefined && !text(raw.branch)) return 'source branch is malformed'
  if (raw.pr !== undefined && (!Number.isSafeInteger(raw.pr) || (raw.pr as number) <= 0)) return 'source pr is not a number'
  if ((raw.branch === undefined) === (raw.pr === undefined)) return 'source names a branch or a pull request, one of them'
  return undefined
}

/** the first problem of a build number, or undefined */
export function buildProblem (raw: unknown): string | undefined {
  return Number.isSafeInteger(raw) && (raw as number) > 0 ? undefined : 'build is not a positive whole number'
}

/**
 * The variables a triggered job's steps see: CIT_REPO (the name), CIT_REPO_URL, CIT_COMMIT,
 * CIT_REF, CIT_BRANCH or CIT_PR, and CIT_BUILD.
 */
export function sourceEnv (source: JobSource | undefined, build: number | undefined): Record<string, string> {
  const env: Record<string, string> = {}
  if (source != null) {
    env.CIT_REPO = source.repo
    env.CIT_REPO_URL = source.url
    env.CIT_COMMIT = source.commit
    env.CIT_REF = source.ref
    if (source.branch != null) env.CIT_BRANCH = source.branch
    if (source.pr != null) env.CIT_PR = String(source.pr)
  }
  if (build != null) env.CIT_BUILD = String(build)
  return env
}

/** the parameters the result cache keys on: a job's params plus the commit it builds */
export function keyParams (params: Record<string, string>, source: JobSource | undefined): Record<string, string> {
  return source == null ? params : { ...params, '@repo': source.url, '@commit': source.commit }
}
