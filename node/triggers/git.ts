/**
 * git as the triggers use it: a bare cache per repository on the node that reads it (in the
 * home, never seen by jobs), fetched shallow at the exact commit, and files read out of a commit.
 */
import { execFile } from 'node:child_process'
import { mkdir, stat } from 'node:fs/promises'
import { join, posix } from 'node:path'
import { GitError } from './errors.js'

/** a git command that takes longer is stopped (a fetch of a large repository included) */
export const GIT_TIMEOUT_MS = 10 * 60_000
/** most bytes of a job file read out of a commit */
export const MAX_JOB_FILE_BYTES = 1024 * 1024
/** most job files a folder given as `--job` may hold */
export const MAX_JOB_FILES = 32

const GIT_ENV = { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '/bin/false', LC_ALL: 'C' }

/** run git; its stdout, or GitError with the first line of its stderr */
export async function git (args: string[], options: { cwd?: string, signal?: AbortSignal, maxBuffer?: number } = {}): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile('git', args, {
      cwd: options.cwd,
      env: { ...process.env, ...GIT_ENV },
      timeout: GIT_TIMEOUT_MS,
      maxBuffer: options.maxBuffer ?? 16 * 1024 * 1024,
      signal: options.signal,
      encoding: 'utf8'
    }, (err, stdout, stderr) => {
      if (err == null) { resolve(stdout); return }
      const line = String(stderr).split('\n').map(l => l.trim()).find(l => l !== '') ?? String(err.message)
      reject(new GitError(`git ${args[0]}: ${line}`, { cause: err }))
    })
  })
}

/** one job file read from a commit: its path in the repository and its text */
export interface JobFileText { path: string, text: string }

/** A bare clone per repository, fetched at exact commits (shallow). */
export class RepoCache {
  constructor (private readonly dir: string) {}

  private pathOf (name: string): string { return join(this.dir, `${name}.git`) }

  /** make `commit` present in the cache of `name`, fetched from `url` (by id, else by `ref`) */
  async fetch (name: string, url: string, commit: string, ref: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const repo = this.pathOf(name)
    if (await stat(join(repo, 'HEAD')).then(() => false, () => true)) {
      await mkdir(repo, { recursive: true, mode: 0o700 })
      await git(['init', '-q', '--bare', repo], options)
    }
    if (await this.has(repo, commit, options)) return
    try {
      await git(['fetch', '-q', '--no-tags', '--depth', '1', '--', url, commit], { cwd: repo, signal: options.signal })
    } catch {
      // a server that refuses a fetch by commit id: the ref, then the commit must be in it
      await git(['fetch', '-q', '--no-tags', '--', url, `+${ref}:refs/cit/fetched`], { cwd: repo, signal: options.signal })
    }
    if (!await this.has(repo, commit, options)) throw new GitError(`commit ${commit} is not in ${url} (${ref})`)
  }

  private async has (repo: string, commit: string, options: { signal?: AbortSignal }): Promise<boolean> {
    return await git(['cat-file', '-e', `${commit}^{commit}`], { cwd: repo, signal: options.signal }).then(() => true, () => false)
  }

  /**
   * The job file at `path` in `commit`, or each job file (`.yaml`, `.yml`, `.json`) of the folder
   * at `path`. Empty when there is none.
   */
  async jobFiles (name: string, commit: string, path: string, options: { signal?: AbortSignal } = {}): Promise<JobFileText[]> {
    const repo = this.pathOf(name)
    const clean = posix.normalize(path).replace(/\/+$/, '')
    const kind = await git(['cat-file', '-t', `${commit}:${clean}`], { cwd: repo, signal: options.signal }).then(t => t.trim(), () => 'missing')
    if (kind === 'blob') return [{ path: clean, text: await this.blob(repo, commit, clean, options) }]
    if (kind !== 'tree') return []
    const names = (await git(['ls-tree', '--name-only', '-z', `${commit}:${clean}`], { cwd: repo, signal: options.signal })).split('\0')
      .filter(n => /\.(ya?ml|json)$/.test(n)).sort().slice(0, MAX_JOB_FILES)
    const out: JobFileText[] = []
    for (const n of names) out.push({ path: `${clean}/${n}`, text: await this.blob(repo, commit, `${clean}/${n}`, options) })
    return out
  }

  private async blob (repo: string, commit: string, path: string, options: { signal?: AbortSignal }): Promise<string> {
    const size = Number((await git(['cat-file', '-s', `${commit}:${path}`], { cwd: repo, signal: options.signal })).trim())
    if (size > MAX_JOB_FILE_BYTES) throw new GitError(`${path} is over ${MAX_JOB_FILE_BYTES} bytes`)
    return await git(['cat-file', 'blob', `${commit}:${path}`], { cwd: repo, signal: options.signal })
  }
}
