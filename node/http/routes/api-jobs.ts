import { HttpError } from '../errors.js'
import { errors, jobIdParams } from '../schemas.js'
import { JOB_STATES } from '../../../protocols/job/records.js'
import type { HttpContext, HttpModule } from '../context.js'
import type { JobQuery, SubmitBody } from '../../control/types.js'
import type { JobState } from '../../../protocols/job/records.js'

const tags = ['jobs']
const bearer = [{ bearer: [] }]

/** The jobs API: list, one job, its events and spec; submit, cancel, re-run, priority. */
export const apiJobs: HttpModule = {
  name: 'api-jobs',
  async register (app, ctx) {
    const h = ctx.handlers
    const read = ctx.auth.require('read')
    const write = ctx.auth.require('submit')

    app.get<{ Querystring: { state?: string[], name?: string, repo?: string, node?: string, limit?: number, cursor?: string } }>('/api/v1/jobs', {
      onRequest: read,
      schema: {
        tags,
        summary: 'jobs newest first, filtered and paged',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            state: { type: 'array', items: { type: 'string', enum: [...JOB_STATES] }, description: 'any of these states (repeat the parameter or separate by commas)' },
            name: { type: 'string', maxLength: 200 },
            repo: { type: 'string', maxLength: 500 },
            node: { type: 'string', maxLength: 64, description: 'a peer id (or 6+ leading characters) that ran or submitted the job' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
            cursor: { type: 'string', maxLength: 100, description: '`next` of the previous page' }
          }
        },
        response: { 200: { $ref: 'JobPage#' }, ...errors(400, 401) }
      },
      preValidation: async req => {
        // `state=a,b` as well as `state=a&state=b`
        const q = req.query as { state?: string | string[] }
        if (q.state != null) q.state = ([] as string[]).concat(q.state).flatMap(s => s.split(',')).filter(s => s !== '')
      }
    }, async req => {
      const q: JobQuery = { ...req.query, state: req.query.state as JobState[] | undefined }
      return await h.findJobs(q)
    })

    app.get<{ Params: { id: string } }>('/api/v1/jobs/:id', {
      onRequest: read,
      schema: { tags, summary: 'one job (the `show --json` document)', params: jobIdParams, response: { 200: { $ref: 'Job#' }, ...errors(401, 404, 409) } }
    }, async req => await h.show(req.params.id))

    app.get<{ Params: { id: string } }>('/api/v1/jobs/:id/events', {
      onRequest: read,
      schema: { tags, summary: "the job's signed events in time order: who did what, where, when", params: jobIdParams, response: { 200: { type: 'array', items: { $ref: 'Event#' } }, ...errors(401, 404, 409) } }
    }, async req => (await h.show(req.params.id)).events)

    app.get<{ Params: { id: string } }>('/api/v1/jobs/:id/spec', {
      onRequest: read,
      schema: { tags, summary: 'the job file as announced (stages, steps, artefact globs)', params: jobIdParams, response: { 200: { type: 'object', additionalProperties: true }, ...errors(401, 404, 409) } }
    }, async req => (await h.jobSpec(req.params.id)).spec)

    app.post<{ Body: SubmitBody }>('/api/v1/jobs', {
      onRequest: write,
      schema: {
        tags,
        summary: 'submit a job, signed by this node',
        security: bearer,
        body: { $ref: 'Submit#' },
        response: { 201: { $ref: 'Job#' }, ...errors(400, 401, 403, 413, 415) }
      }
    }, async (req, reply) => {
      const job = await h.submit(req.body)
      return await reply.code(201).header('location', `/api/v1/jobs/${job.id}`).send(job)
    })

    app.post<{ Params: { id: string } }>('/api/v1/jobs/:id/cancel', {
      onRequest: write,
      schema: { tags, summary: 'cancel a job (by this node, for its submitter or an admin)', security: bearer, params: jobIdParams, response: { 200: { $ref: 'Job#' }, ...errors(401, 403, 404, 409) } }
    }, async req => {
      await mayAct(ctx, req.params.id, 'cancel')
      return await h.cancel(req.params.id)
    })

    app.post<{ Params: { id: string } }>('/api/v1/jobs/:id/rerun', {
      onRequest: write,
      schema: { tags, summary: 'submit the job again: same spec, parameters and priority; a new job', security: bearer, params: jobIdParams, response: { 201: { $ref: 'Job#' }, ...errors(401, 403, 404, 409) } }
    }, async (req, reply) => {
      const job = await h.rerun(req.params.id)
      return await reply.code(201).header('location', `/api/v1/jobs/${job.id}`).send(job)
    })

    app.post<{ Params: { id: string }, Body: { priority: number } }>('/api/v1/jobs/:id/priority', {
      onRequest: write,
      schema: {
        tags,
        summary: "change a queued job's priority (by this node, for its submitter or an admin)",
        security: bearer,
        params: jobIdParams,
        body: { type: 'object', additionalProperties: false, properties: { priority: { type: 'integer', minimum: -1e9, maximum: 1e9 } }, required: ['priority'] },
        response: { 200: { $ref: 'Job#' }, ...errors(400, 401, 403, 404, 409) }
      }
    }, async req => await h.reprioritize(req.params.id, req.body.priority))
  }
}

/**
 * The token allows the action; this node's key must too, or the mesh drops the signed event
 * (only a job's submitter or an admin may cancel it).
 */
async function mayAct (ctx: HttpContext, ref: string, action: string): Promise<void> {
  const [status, job] = await Promise.all([ctx.handlers.status(), ctx.handlers.show(ref)])
  if (status.mesh == null || job.submitter === status.peerId || status.roles.includes('admin')) return
  throw new HttpError('ERR_FORBIDDEN', `this node (${status.peerId}) may not ${action} job ${job.id}: only its submitter's node or an admin's may`)
}
