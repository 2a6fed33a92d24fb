/**
 * JSON schemas of the API's documents, declared once: Fastify validates requests and serialises
 * replies with them, and @fastify/swagger builds `/api/openapi.json` from them. Objects allow
 * more properties: documents may gain fields (DESIGN.md: "fields may be added").
 */
import { JOB_STATES, EVENT_TYPES } from '../../protocols/job/records.js'

const hash = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'sha256, 64 lowercase hex digits' } as const
const nullable = <T extends object>(s: T): T & { nullable: true } => ({ ...s, nullable: true })
const open = <P extends Record<string, unknown>>(properties: P, required: Array<keyof P & string> = []): Record<string, unknown> =>
  ({ type: 'object', additionalProperties: true, properties, required })

export const ErrorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'every error reply: a stable code (see docs/api.md) and a one-line message',
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    problems: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } }
  },
  required: ['code', 'message']
} as const

export const ArtefactSchema = { $id: 'Artefact', ...open({ path: { type: 'string' }, sha256: hash, size: { type: 'integer' } }, ['path', 'sha256', 'size']) }

export const EventSchema = {
  $id: 'Event',
  ...open({
    type: { type: 'string', enum: [...EVENT_TYPES] },
    node: { type: 'string', description: 'peer id of the node where it happened' },
    by: { type: 'string', description: 'key id that signed the event' },
    at: { type: 'integer', description: 'ms since the epoch' },
    state: { type: 'string', enum: [...JOB_STATES] },
    reason: { type: 'string' },
    hash: hash
  }, ['type', 'node', 'at'])
}

export const JobSchema = {
  $id: 'Job',
  description: 'one job: the same document as `cit-node show --json`',
  ...open({
    id: hash,
    name: { type: 'string' },
    state: { type: 'string', enum: [...JOB_STATES] },
    priority: { type: 'integer' },
    submitter: { type: 'string' },
    executor: nullable({ type: 'string' }),
    exitCode: nullable({ type: 'integer' }),
    cacheHit: { type: 'boolean' },
    cachedFrom: nullable({ type: 'string' }),
    reason: nullable({ type: 'string' }),
    submittedAt: { type: 'integer' },
    events: { type: 'array', items: { $ref: 'Event#' } },
    usage: nullable(open({ wallMs: { type: 'integer' }, cpuMs: { type: 'integer' }, maxRssBytes: { type: 'integer' } })),
    log: nullable(hash),
    artefacts: { type: 'array', items: { $ref: 'Artefact#' } },
    params: { type: 'object', additionalProperties: { type: 'string' } },
    announced: { type: 'boolean' },
    acceptors: nullable({ type: 'array', items: { type: 'string' }, description: 'in a mesh: the members whose majority holds the job\'s lease and decides its result' }),
    build: { type: 'integer', description: 'build number among the jobs of its name' },
    source: { ...open({ repo: { type: 'string' }, url: { type: 'string' }, commit: { type: 'string' }, ref: { type: 'string' }, branch: { type: 'string' }, pr: { type: 'integer' } }), description: 'a triggered job: the repository and commit it builds (docs/triggers.md)' }
  }, ['id', 'name', 'state', 'priority', 'submitter', 'events', 'artefacts'])
}

export const JobListItemSchema = {
  $id: 'JobListItem',
  ...open({
    id: hash,
    name: { type: 'string' },
    state: { type: 'string', enum: [...JOB_STATES] },
    priority: { type: 'integer' },
    submitter: { type: 'string' },
    executor: nullable({ type: 'string' }),
    submittedAt: { type: 'integer' },
    origin: { type: 'string', description: 'peer id of the node it was submitted on' },
    exitCode: nullable({ type: 'integer' }),
    reason: nullable({ type: 'string' }),
    startedAt: nullable({ type: 'integer' }),
    finishedAt: nullable({ type: 'integer' }),
    build: { type: 'integer', description: 'build number, when the job has one' },
    source: open({ repo: { type: 'string' }, url: { type: 'string' }, commit: { type: 'string' }, ref: { type: 'string' }, branch: { type: 'string' }, pr: { type: 'integer' } })
  }, ['id', 'name', 'state', 'submittedAt'])
}

export const JobPageSchema = {
  $id: 'JobPage',
  ...open({
    jobs: { type: 'array', items: { $ref: 'JobListItem#' } },
    next: nullable({ type: 'string', description: 'pass as `cursor` for the next (older) page; null at the end' })
  }, ['jobs', 'next'])
}

export const PeerSchema = {
  $id: 'Peer',
  description: 'a member as `cit-node peers --json` shows it',
  ...open({
    peerId: { type: 'string' },
    addrs: { type: 'array', items: { type: 'string' } },
    state: { type: 'string', enum: ['active', 'paused', 'draining', 'gone', 'unreachable'] },
    labels: { type: 'array', items: { type: 'string' } },
    load: open({ load1: { type: 'number' }, cores: { type: 'integer' }, memFreeBytes: { type: 'integer' }, slotsFree: { type: 'integer' } }),
    slots: { type: 'integer' },
    running: { type: 'array', items: { type: 'string' } },
    reportAgeMs: { type: 'integer' },
    self: { type: 'boolean' }
  }, ['peerId', 'state'])
}

export const SubmitSchema = {
  $id: 'Submit',
  type: 'object',
  additionalProperties: false,
  properties: {
    spec: { type: 'object', description: 'a job file as JSON (the YAML file parsed); the daemon validates every field' },
    params: { type: 'object', additionalProperties: { type: 'string' } },
    priority: { type: 'integer' }
  },
  required: ['spec']
} as const

/** every shared schema, added to the app once */
export const SHARED_SCHEMAS = [ErrorSchema, ArtefactSchema, EventSchema, JobSchema, JobListItemSchema, JobPageSchema, PeerSchema, SubmitSchema]

/** the error replies a route may give, for its `response` schema */
export function errors (...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map(s => [s, { $ref: 'Error#' }]))
}

export const jobIdParams = {
  type: 'object',
  properties: { id: { type: 'string', description: 'a job id, a unique prefix of one (4+ hex digits) or a job name (its newest job)', maxLength: 200 } },
  required: ['id']
} as const
