import { Readable } from 'node:stream'
import { HttpError } from '../errors.js'
import { errors, jobIdParams } from '../schemas.js'
import { plainText } from '../cast.js'
import { sendBlob } from '../send-blob.js'
import type { HttpModule } from '../context.js'
import type { JobView } from '../../jobs/types.js'

const tags = ['files']
const hashParams = { type: 'object', properties: { hash: { type: 'string', maxLength: 80, description: 'sha256 (64 hex digits, `sha256:` prefix allowed)' } }, required: ['hash'] } as const
/** the longest artefact path asked for (the manifest's paths are shorter) */
export const MAX_ARTEFACT_PATH = 1024

/**
 * Check an artefact path from a URL before it is looked up: relative, `/`-separated, no `.` or
 * `..` segment, no backslash or control character. The lookup is in the job's manifest only (never
 * the file system), so this is a second wall: a traversal attempt is refused by name.
 */
export function checkArtefactPath (path: string): string {
  const bad = (why: string): never => { throw new HttpError('ERR_INVALID_PATH', `artefact path ${JSON.stringify(path.slice(0, 200))} refused: ${why}`) }
  if (path === '' || path.length > MAX_ARTEFACT_PATH) bad('empty or too long')
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(path)) bad('control characters and backslashes are not allowed')
  if (path.startsWith('/')) bad('it must be relative')
  if (path.split('/').some(seg => seg === '..' || seg === '.' || seg === '')) bad('`.`, `..` and empty segments are not allowed')
  return path
}

/** Logs (asciicast and plain text), artefacts by path and blobs by hash, with ETag and Range. */
export const apiFiles: HttpModule = {
  name: 'api-files',
  async register (app, ctx) {
    const h = ctx.handlers
    const read = ctx.auth.require('read')

    app.get<{ Params: { id: string } }>('/api/v1/jobs/:id/log', {
      onRequest: read,
      schema: { tags, summary: "the job's terminal recording (asciicast v2), once it has ended", params: jobIdParams, response: errors(401, 404, 409, 416, 503) }
    }, async (req, reply) => {
      const job = await h.show(req.params.id)
      if (job.log == null) throw noLog(job)
      return await sendBlob(req, reply, h, job.log, { type: 'application/x-asciicast', signal: ctx.signal })
    })

    app.get<{ Params: { id: string } }>('/api/v1/jobs/:id/log.txt', {
      onRequest: read,
      schema: { tags, summary: "the job's output as plain text: the recording once ended, the scrollback while it runs", params: jobIdParams, response: errors(401, 404, 409, 503) }
    }, async (req, reply) => {
      const job = await h.show(req.params.id)
      const out = await h.output(job.id, false).catch((err: any) => {
        // a running job's scrollback lives on its executor: name it when it cannot be reached
        if (job.log != null || typeof err?.code !== 'string' || err.code.startsWith('ERR_JOB_')) throw err
        throw new HttpError('ERR_UNREACHABLE', `the output of job ${job.id} is on node ${job.executor ?? '?'}, which could not be reached (${String(err.code)})`)
      })
      void reply.type('text/plain; charset=utf-8').header('cache-control', 'no-cache')
      return await reply.send(Readable.from(plainText(out.replay)))
    })

    app.get<{ Params: { id: string } }>('/api/v1/jobs/:id/artefacts', {
      onRequest: read,
      schema: { tags, summary: "the job's artefacts: path, sha256, size", params: jobIdParams, response: { 200: { type: 'array', items: { $ref: 'Artefact#' } }, ...errors(401, 404, 409) } }
    }, async req => (await h.show(req.params.id)).artefacts)

    app.get<{ Params: { id: string, '*': string } }>('/api/v1/jobs/:id/artefacts/*', {
      onRequest: read,
      schema: {
        tags,
        summary: 'one artefact by its path in the job (fetched from its holder if need be)',
        params: { type: 'object', properties: { id: jobIdParams.properties.id, '*': { type: 'string', description: 'the artefact path as the job lists it' } }, required: ['id'] },
        response: errors(400, 401, 404, 409, 416, 503)
      }
    }, async (req, reply) => {
      const path = checkArtefactPath(req.params['*'])
      const job = await h.show(req.params.id)
      const a = job.artefacts.find(x => x.path === path)
      if (a == null) throw new HttpError('ERR_ARTEFACT_NOT_FOUND', `job ${job.id} has no artefact ${JSON.stringify(path)}`)
      return await sendBlob(req, reply, h, a.sha256, { filename: path.split('/').pop(), signal: ctx.signal })
    })

    app.get<{ Params: { hash: string } }>('/api/v1/blobs/:hash', {
      onRequest: read,
      schema: { tags, summary: 'a blob (artefact, log) by sha256, from whichever member holds it', params: hashParams, response: errors(400, 401, 404, 416, 503) }
    }, async (req, reply) => {
      const hash = req.params.hash.toLowerCase().replace(/^sha256:/, '')
      if (!/^[0-9a-f]{64}$/.test(hash)) throw new HttpError('ERR_INVALID_HASH', `${JSON.stringify(req.params.hash.slice(0, 80))} is not a sha256 (64 hex digits)`)
      return await sendBlob(req, reply, h, hash, { signal: ctx.signal })
    })
  }
}

function noLog (job: JobView): HttpError {
  const why = job.state === 'running' || job.state === 'claimed'
    ? `job ${job.id} is ${job.state}: its recording is stored when it ends; follow it at /api/v1/jobs/${job.id}/live or read /api/v1/jobs/${job.id}/log.txt`
    : `job ${job.id} (${job.state}) has no recording`
  return new HttpError('ERR_LOG_NOT_FOUND', why)
}
