import { execFileSync, spawnSync } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { chmod, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { http } from '../http/helpers.js'
import type { HttpReply } from '../http/helpers.js'

/** A bare repository and a working clone of it in a temp dir that build users may read. */
export interface TestRepo {
  dir: string
  bare: string
  work: string
  git: (args: string[], options?: { cwd?: string, env?: NodeJS.ProcessEnv }) => string
  /** write files (null removes one), commit them in the clone, return the commit id */
  commit: (files: Record<string, string | null>, message?: string) => Promise<string>
  /** push the clone's HEAD to a branch of the bare repository; git's stderr */
  push: (branch: string) => { stderr: string, status: number }
  cleanup: () => Promise<void>
}

export async function makeRepo (): Promise<TestRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'cit-repo-'))
  // a sandboxed job reads the repository as a build user: the dir must be passable
  await chmod(dir, 0o755)
  const bare = join(dir, 'libfoo.git')
  const work = join(dir, 'work')
  const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.org' }
  const git = (args: string[], options: { cwd?: string, env?: NodeJS.ProcessEnv } = {}): string =>
    execFileSync('git', args, { cwd: options.cwd ?? work, env: { ...env, ...options.env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
  git(['init', '-q', '--bare', '-b', 'main', bare], { cwd: dir })
  git(['init', '-q', '-b', 'main', work], { cwd: dir })
  return {
    dir,
    bare,
    work,
    git,
    commit: async (files, message = 'change') => {
      for (const [name, text] of Object.entries(files)) {
        if (text == null) { git(['rm', '-q', '--ignore-unmatch', name]); continue }
        await mkdir(dirname(join(work, name)), { recursive: true })
        await writeFile(join(work, name), text)
        git(['add', name])
      }
      git(['commit', '-q', '--allow-empty', '-m', message])
      return git(['rev-parse', 'HEAD'])
    },
    push: (branch) => {
      const r = spawnSync('git', ['push', '-q', bare, `HEAD:refs/heads/${branch}`], { cwd: work, env, encoding: 'utf8', timeout: 30_000 })
      return { stderr: r.stderr, status: r.status ?? 1 }
    },
    cleanup: async () => { await rm(dir, { recursive: true, force: true }) }
  }
}

/** a job file whose step prints what it built and fails when asked to */
export function jobFile (name: string, command = 'echo "built $CIT_REPO $CIT_BRANCH$CIT_PR build $CIT_BUILD"; echo "HEAD $(git rev-parse HEAD)"; cat version.txt'): string {
  return `name: ${name}\ntimeout: 2m\nstages:\n  - title: build\n    steps:\n      - { title: show, command: '${command.replace(/'/g, "''")}' }\n`
}

export interface StatusPost { method: string, path: string, authorization: string, body: any, raw: string }

/** A stand-in for the forge's status API: records each POST; the first `failFirst` get a 502. */
export async function fakeForge (options: { failFirst?: number, status?: number } = {}): Promise<{ url: string, posts: StatusPost[], attempts: () => number, close: () => Promise<void> }> {
  const posts: StatusPost[] = []
  let attempts = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      attempts++
      if (attempts <= (options.failFirst ?? 0)) { res.writeHead(502).end('bad gateway'); return }
      if (options.status != null) { res.writeHead(options.status).end('{"message":"Bad credentials"}'); return }
      const raw = Buffer.concat(chunks).toString('utf8')
      let body: unknown
      try { body = JSON.parse(raw) } catch { body = null }
      posts.push({ raw, method: req.method ?? '', path: req.url ?? '', authorization: String(req.headers.authorization ?? ''), body })
      res.writeHead(201, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}/api/v3`,
    posts,
    attempts: () => attempts,
    close: async () => { await new Promise(resolve => { server.close(resolve); server.closeAllConnections() }) }
  }
}

/** the states posted for a commit, in order */
export function statesFor (posts: StatusPost[], commit: string): string[] {
  return posts.filter(p => p.path.endsWith(`/statuses/${commit}`)).map(p => String(p.body?.state))
}

/** POST a webhook signed with `secret` (GitHub's headers unless `forgejo`; no delivery header when `delivery` is null) */
export async function webhook (port: number, repo: string, options: { secret: string, event: string, delivery: string | null, body: unknown, raw?: Buffer, signature?: string | null, forge?: 'github' | 'forgejo' }): Promise<HttpReply> {
  const raw = options.raw ?? Buffer.from(JSON.stringify(options.body))
  const hex = createHmac('sha256', options.secret).update(raw).digest('hex')
  const forgejo = options.forge === 'forgejo'
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    [forgejo ? 'x-forgejo-event' : 'x-github-event']: options.event
  }
  if (options.delivery !== null) headers[forgejo ? 'x-forgejo-delivery' : 'x-github-delivery'] = options.delivery
  if (options.signature !== null) headers[forgejo ? 'x-forgejo-signature' : 'x-hub-signature-256'] = options.signature ?? (forgejo ? hex : `sha256=${hex}`)
  return await http(port, 'POST', `/hooks/${forgejo ? 'forgejo' : 'github'}/${repo}`, { raw, headers })
}

/**
 * POST announcing a body of `size` bytes by its content-length, and send none of it: a server that
 * refuses a body by its length answers at once. (Sending the bytes too races the server's close:
 * unread bytes make it reset the connection, and the answer can be lost to the reset.)
 */
export async function oversized (port: number, path: string, size: number, headers: Record<string, string>): Promise<number> {
  const { request } = await import('node:http')
  return await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, agent: false, headers: { ...headers, connection: 'close', 'content-length': String(size) }, signal: AbortSignal.timeout(30_000) }, res => {
      res.resume()
      resolve(res.statusCode ?? 0)
      req.destroy()
    })
    req.on('error', reject)
    req.flushHeaders()
  })
}
