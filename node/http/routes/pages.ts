import { isFinal, JOB_STATES } from '../../../protocols/job/records.js'
import { classify } from '../errors.js'
import { plainText, summarizeCast } from '../cast.js'
import { errorPage, layout } from '../pages/layout.js'
import { jobPage } from '../pages/job.js'
import { jobsPage, meshPage } from '../pages/mesh.js'
import { namePage } from '../pages/name.js'
import type { HttpContext, HttpModule } from '../context.js'
import type { JobPageData } from '../pages/job.js'
import type { JobQuery } from '../../control/types.js'
import type { JobState } from '../../../protocols/job/records.js'
import type { PeerView } from '../../mesh/peer-table.js'

/** how long a page waits for a recording or a remote scrollback before saying it cannot get it */
export const PAGE_FETCH_MS = 5000
/** characters of output a page shows as text (the end of the log) */
export const PAGE_TEXT_CHARS = 256 * 1024
/** builds a name's history page shows */
export const HISTORY_LENGTH = 100

const page = { schema: { hide: true } }

/**
 * The pages: `/` (the mesh and the latest jobs), `/jobs` (filters, paging), `/jobs/ID` and
 * `/names/NAME`. Server-rendered, readable without JavaScript; small modules make them live.
 */
export const pages: HttpModule = {
  name: 'pages',
  async register (app, ctx) {
    const h = ctx.handlers
    const read = ctx.auth.require('read')
    let self = ''
    const node = async (): Promise<string> => (self ||= (await h.status()).peerId)
    // a browser gets an error as a page
    app.setErrorHandler(async (err, req, reply) => {
      const { status, body } = classify(err)
      if (status >= 500) ctx.logger.error('page failed', { url: req.url, err })
      if (status === 401) void reply.header('www-authenticate', 'Bearer realm="cit-node"')
      ctx.metrics.httpError(body.code)
      return await reply.code(status).type('text/html; charset=utf-8').send(errorPage(await node().catch(() => '?'), status, body.code, body.message))
    })
    const send = async (reply: any, title: string, body: Parameters<typeof layout>[1], extra: Partial<Parameters<typeof layout>[0]> = {}): Promise<unknown> =>
      await reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(layout({ title, node: await node(), ...extra }, body))

    app.get('/', { ...page, onRequest: read }, async (_req, reply) => {
      const [peers, jobs] = await Promise.all([peersOf(ctx), h.findJobs({ limit: 15 })])
      return await send(reply, 'mesh', meshPage(peers, jobs.jobs, Date.now()), { modules: ['mesh.js'] })
    })

    app.get<{ Querystring: Record<string, string | string[]> }>('/jobs', { ...page, onRequest: read }, async (req, reply) => {
      const q = queryOf(req.query)
      return await send(reply, 'jobs', jobsPage(await h.findJobs(q), q, Date.now()))
    })

    app.get<{ Params: { id: string } }>('/jobs/:id', { ...page, onRequest: read }, async (req, reply) => {
      const d = await jobPageData(ctx, req.params.id)
      const running = d.job.state === 'running' || d.job.state === 'claimed'
      return await send(reply, d.job.name, jobPage(d), {
        styles: ['/assets/xterm/xterm.css', '/assets/asciinema/player.css'],
        scripts: isFinal(d.job.state) ? ['/assets/asciinema/player.js'] : [],
        modules: ['job.js', ...(running ? ['live.js'] : [])]
      })
    })

    app.get<{ Params: { name: string } }>('/names/:name', { ...page, onRequest: read }, async (req, reply) => {
      const jobs = (await h.findJobs({ name: req.params.name, limit: HISTORY_LENGTH })).jobs
      return await send(reply, req.params.name, namePage(req.params.name, jobs, Date.now()))
    })
  }
}

async function peersOf (ctx: HttpContext): Promise<PeerView[]> {
  const status = await ctx.handlers.status()
  return status.mesh == null ? [] : await ctx.handlers.peers() as PeerView[]
}

/** a query string as the jobs filter (unknown states are left to findJobs to refuse) */
function queryOf (raw: Record<string, string | string[]>): JobQuery {
  const one = (k: string): string | undefined => { const v = raw[k]; const s = Array.isArray(v) ? v[0] : v; return s == null || s === '' ? undefined : s }
  const states = ([] as string[]).concat(raw.state ?? []).flatMap(s => s.split(',')).filter(s => (JOB_STATES as readonly string[]).includes(s)) as JobState[]
  return { state: states.length > 0 ? states : undefined, name: one('name'), repo: one('repo'), node: one('node'), cursor: one('cursor'), limit: 50 }
}

/** everything the job page shows; what cannot be had in PAGE_FETCH_MS is named instead of waited for */
async function jobPageData (ctx: HttpContext, ref: string): Promise<JobPageData> {
  const h = ctx.handlers
  const job = await h.show(ref)
  const [spec, peers, list] = await Promise.all([
    h.jobSpec(job.id).then(s => s.spec).catch(() => undefined),
    peersOf(ctx).catch(() => []),
    h.findJobs({ name: job.name, limit: 50 }).catch(() => ({ jobs: [], next: null }))
  ])
  const item = list.jobs.find(j => j.id === job.id)
  const d: JobPageData = {
    job, spec, cast: undefined, problem: undefined, text: undefined, textTruncated: false, now: Date.now(),
    executor: peers.find(p => p.peerId === job.executor),
    build: item?.build,
    source: item?.source
  }
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(PAGE_FETCH_MS)])
  try {
    if (isFinal(job.state) && job.log != null) {
      const blob = await h.blob(job.log, { signal })
      d.cast = await summarizeCast(blob.stream, { tail: PAGE_TEXT_CHARS, startedAt: [...job.events].reverse().find(e => e.type === 'started')?.at })
      d.text = await joinText([d.cast.output])
      d.textTruncated = d.cast.truncated
    } else if (job.state === 'running' || job.state === 'claimed') {
      if (d.executor?.state !== 'unreachable' && d.executor?.state !== 'gone') {
        const out = await withDeadline(h.output(job.id, false), signal)
        const chunks: Array<string | Uint8Array> = []
        for await (const c of out.replay) chunks.push(c)
        d.text = await joinText(chunks)
        d.textTruncated = d.text.length > PAGE_TEXT_CHARS
        d.text = d.text.slice(-PAGE_TEXT_CHARS)
      }
    }
  } catch (err: any) {
    const holder = job.executor != null ? `node ${job.executor}` : 'the node that ran it'
    d.problem = job.log != null
      ? `The recording (${job.log}) is held by ${holder}, which could not be reached now (${String(err?.code ?? err?.message ?? err)}).`
      : `The output could not be read from ${holder} (${String(err?.code ?? err?.message ?? err)}).`
  }
  return d
}

async function joinText (chunks: Array<string | Uint8Array>): Promise<string> {
  let text = ''
  for await (const part of plainText(chunks)) text += part
  return text
}

async function withDeadline<T> (p: Promise<T>, signal: AbortSignal): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(Object.assign(new Error('timed out'), { code: 'ERR_TIMEOUT' })) }
    if (signal.aborted) { onAbort(); return }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}
