/**
 * A trigger: a pushed commit (git hook, webhook) becomes jobs. The commit is fetched into the
 * node's cache of the repository, the job file read from that very commit, and each job
 * submitted with its source; the job's name is the file's `name` and the branch or pull request
 * (`libfoo_main`, `libfoo_pr25`), so supersede and workspace reuse work per branch.
 */
import { JOB_NAME_PATTERN, MAX_NAME_LENGTH } from '../../protocols/job/constants.js'
import { InvalidInputError } from '../errors.js'
import { RepoNotFoundError } from './errors.js'
import { branchMatches } from './repo-record.js'
import type { JobSource } from '../../protocols/job/source.js'
import type { JobSpec } from '../../protocols/job/types.js'
import type { Logger } from '../../store/logger.js'
import type { RepoCache } from './git.js'
import type { RepoRegistry } from './repo-registry.js'
import type { StatusReporter } from './statuses.js'

export interface TriggerRequest {
  /** the repository's registered name */
  repo: string
  commit: string
  /** `refs/heads/BRANCH`, or `refs/pull/N/head` with `pr` */
  ref: string
  pr?: number
}

export interface TriggerOutcome {
  jobs: Array<{ id: string, name: string }>
  /** why nothing was built: a ref that does not trigger, no job file, a job file with problems */
  skipped?: string
  error?: string
}

export interface TriggerComponents {
  registry: RepoRegistry
  cache: RepoCache
  statuses: StatusReporter
  submit: (body: { spec: JobSpec, source: JobSource }) => Promise<{ id: string, name: string }>
  logger: Logger
}

const ZERO = /^0+$/
const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/

/** check a trigger request's shape (from a hook, the control socket or a webhook) */
export function checkTriggerRequest (raw: unknown): TriggerRequest {
  const r = (raw ?? {}) as Record<string, unknown>
  const problems: Array<{ path: string, message: string }> = []
  if (typeof r.repo !== 'string' || r.repo === '') problems.push({ path: 'repo', message: 'a registered repository name' })
  if (typeof r.commit !== 'string' || !COMMIT.test(r.commit)) problems.push({ path: 'commit', message: 'a full commit id' })
  if (typeof r.ref !== 'string' || !r.ref.startsWith('refs/') || r.ref.length > 1024 || /[\0\n\r]/.test(r.ref)) problems.push({ path: 'ref', message: 'a ref (refs/heads/NAME)' })
  if (r.pr !== undefined && (!Number.isSafeInteger(r.pr) || (r.pr as number) <= 0)) problems.push({ path: 'pr', message: 'a pull request number' })
  if (problems.length > 0) throw new InvalidInputError(`invalid trigger: ${problems.map(p => `${p.path}: ${p.message}`).join('; ')}`, problems)
  return { repo: r.repo as string, commit: r.commit as string, ref: r.ref as string, ...(r.pr !== undefined ? { pr: r.pr as number } : {}) }
}

/** `<name>_<branch>` or `<name>_pr<N>`, in the characters a job name may hold */
export function triggeredName (base: string, source: { branch?: string, pr?: number }): string {
  const suffix = source.pr != null ? `pr${source.pr}` : (source.branch ?? '').replace(/[^A-Za-z0-9._-]+/g, '-')
  const name = `${base}_${suffix}`.slice(0, MAX_NAME_LENGTH)
  return JOB_NAME_PATTERN.test(name) ? name : base
}

export class Trigger {
  constructor (private readonly c: TriggerComponents) {}

  /** Build `req.commit` of `req.repo`. Bad input throws; a commit with nothing to build says why. */
  async fire (req: TriggerRequest, options: { signal?: AbortSignal } = {}): Promise<TriggerOutcome> {
    const repo = this.c.registry.get(req.repo)
    if (repo == null) throw new RepoNotFoundError(req.repo)
    if (ZERO.test(req.commit)) return { jobs: [], skipped: 'a deleted ref' }
    const branch = req.pr == null && req.ref.startsWith('refs/heads/') ? req.ref.slice('refs/heads/'.length) : undefined
    if (req.pr == null && branch == null) return { jobs: [], skipped: `${req.ref} is not a branch` }
    if (branch != null && !branchMatches(repo.branches, branch)) return { jobs: [], skipped: `branch ${branch} does not match ${repo.branches.join(',')}` }
    const source: JobSource = { repo: repo.name, url: repo.url, commit: req.commit, ref: req.ref, ...(req.pr != null ? { pr: req.pr } : { branch: branch! }) }
    await this.c.cache.fetch(repo.name, repo.url, req.commit, req.ref, options)
    const files = await this.c.cache.jobFiles(repo.name, req.commit, repo.job, options)
    if (files.length === 0) return this.refuse(repo.name, source, `no job file ${repo.job} in ${req.commit.slice(0, 12)}`)
    const jobs: TriggerOutcome['jobs'] = []
    const problems: string[] = []
    // the YAML parser is loaded on the first trigger, not when the daemon starts
    const { parseJobFile } = await import('../../protocols/job/parse.js')
    for (const file of files) {
      const parsed = parseJobFile(file.text, { filename: file.path })
      if (parsed.spec == null || parsed.problems.length > 0) {
        const p = parsed.problems[0]
        problems.push(`${file.path}${p?.line != null ? `:${p.line}` : ''}: ${p?.path !== '' && p?.path != null ? `${p.path}: ` : ''}${p?.message ?? 'invalid'}`)
        continue
      }
      const spec = { ...parsed.spec, name: triggeredName(parsed.spec.name, source) }
      jobs.push(await this.c.submit({ spec, source }))
    }
    this.c.logger.info('trigger built a commit', { repo: repo.name, commit: req.commit, ref: req.ref, jobs: jobs.map(j => j.id) })
    if (problems.length > 0) return { ...this.refuse(repo.name, source, problems[0]), jobs }
    return { jobs }
  }

  /** nothing (or not everything) could be built: an `error` status names the first problem */
  private refuse (name: string, source: JobSource, problem: string): TriggerOutcome {
    this.c.logger.warn('trigger built nothing', { repo: name, commit: source.commit, problem })
    const repo = this.c.registry.get(name)
    if (repo?.forge != null) {
      this.c.statuses.post({ key: `${name}@${source.commit}`, repo, commit: source.commit, state: 'error', context: `cit-node/${name}`, description: problem })
    }
    return { jobs: [], error: problem }
  }
}
