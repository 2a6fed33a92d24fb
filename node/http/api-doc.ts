/**
 * docs/api.md from the OpenAPI document the routes declare: `npm run docs:api` writes it, and a
 * test checks that the committed page is what the routes say.
 */
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { silentLogger } from '../../store/logger.js'
import { buildHttpApp } from './app.js'
import { Auth } from './auth.js'
import { Links } from './context.js'
import { HTTP_STATUS_BY_CODE } from './errors.js'
import { DEFAULT_MODULES } from './face.js'
import { HttpMetrics } from './metrics.js'
import { LIVE_DOC } from './routes/live.js'
import { webhookModule } from '../triggers/webhooks.js'
import type { ControlHandlers } from '../control/types.js'

type Doc = Record<string, any>

/** the OpenAPI document of the default route modules, without a daemon behind them */
export async function openApiDocument (): Promise<Doc> {
  // the document depends on the routes only: a handler that is called is a mistake here
  const handlers = new Proxy({}, { get: () => () => { throw new Error('no daemon behind the document builder') } }) as unknown as ControlHandlers
  const app = await buildHttpApp({
    handlers,
    auth: new Auth({ check: async () => undefined }),
    metrics: new HttpMetrics({ handlers, self: () => '', logger: silentLogger }),
    logger: silentLogger,
    config: {},
    links: new Links(),
    signal: new AbortController().signal
  }, [...DEFAULT_MODULES, webhookModule(handlers as never)])
  await app.ready()
  const doc = app.swagger() as Doc
  await app.close()
  return doc
}

const METHODS = ['get', 'post', 'put', 'delete', 'patch']

function refName (schema: any): string | undefined {
  const ref: unknown = schema?.$ref
  return typeof ref === 'string' ? ref.split('/').pop() : undefined
}

function typeOf (schema: any): string {
  if (schema == null) return ''
  const ref = refName(schema)
  if (ref != null) return `[${ref}](#${ref.toLowerCase()})`
  if (schema.type === 'array') return `${typeOf(schema.items)}[]`
  if (schema.enum != null) return schema.enum.filter((v: unknown) => v !== null).map((v: unknown) => `\`${String(v)}\``).join(' or ')
  return String(schema.type ?? 'object') + (schema.nullable === true ? ' or null' : '')
}

const cell = (text: unknown): string => String(text ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ')

function operation (path: string, method: string, op: any): string[] {
  const lines = [`### \`${method.toUpperCase()} ${path}\``, '', cell(op.summary ?? ''), '']
  lines.push(op.security != null ? '*Needs a bearer token with the `submit` role.*' : path === '/api/v1/whoami' ? '*Open.*' : path.startsWith('/hooks/') ? '*No token: signed with the repository\'s webhook secret (docs/triggers.md).*' : '*Reads: open on loopback, a `read` (or `submit`) token elsewhere.*', '')
  const params = (op.parameters ?? []) as any[]
  if (params.length > 0) {
    lines.push('| parameter | in | type | |', '|---|---|---|---|')
    for (const p of params) lines.push(`| \`${cell(p.name)}\` | ${cell(p.in)} | ${cell(typeOf(p.schema))}${p.required === true ? ' (required)' : ''} | ${cell(p.description ?? p.schema?.description ?? '')} |`)
    lines.push('')
  }
  const body = op.requestBody?.content?.['application/json']?.schema
  if (body != null) lines.push(`Body (JSON): ${typeOf(body)}`, '')
  const responses = Object.entries(op.responses ?? {}) as Array<[string, any]>
  if (responses.length > 0) {
    lines.push('| status | body |', '|---|---|')
    for (const [status, r] of responses) {
      const schema = r?.content?.['application/json']?.schema
      lines.push(`| ${status} | ${cell(schema != null ? typeOf(schema) : r?.description ?? '')} |`)
    }
    lines.push('')
  }
  return lines
}

function schemaSection (name: string, schema: any): string[] {
  const lines = [`### ${name}`, '']
  if (schema.description != null) lines.push(cell(schema.description), '')
  const required = new Set<string>(schema.required ?? [])
  lines.push('| field | type | |', '|---|---|---|')
  for (const [field, s] of Object.entries(schema.properties ?? {}) as Array<[string, any]>) {
    lines.push(`| \`${field}\` | ${cell(typeOf(s))}${required.has(field) ? '' : ' (optional)'} | ${cell(s.description ?? '')} |`)
  }
  lines.push('')
  return lines
}

/** the markdown page for an OpenAPI document */
export function renderApiMarkdown (doc: Doc): string {
  const lines = [
    '# HTTP API reference',
    '',
    '<!-- generated from the OpenAPI document (`npm run docs:api`); a test checks it matches the routes -->',
    '',
    cell(doc.info?.description ?? ''),
    '',
    'Every node serves the whole mesh: ask any member. The document itself is at `GET /api/openapi.json`; the pages,',
    'websocket messages and metrics are described in [web.md](web.md).',
    '',
    '## Errors',
    '',
    'Every error reply is JSON `{code, message}` (invalid input adds `problems`, each with a dotted `path`). Match on `code`:',
    '',
    '| code | status |',
    '|---|---|',
    ...Object.entries(HTTP_STATUS_BY_CODE).sort(([a], [b]) => a.localeCompare(b)).map(([code, status]) => `| \`${code}\` | ${status} |`),
    '',
    '## Routes',
    ''
  ]
  for (const [path, item] of Object.entries(doc.paths ?? {}) as Array<[string, any]>) {
    for (const method of METHODS) if (item[method] != null) lines.push(...operation(path, method, item[method]))
  }
  lines.push(LIVE_DOC)
  lines.push('## Documents', '')
  for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) lines.push(...schemaSection(name, schema))
  return lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n'
}

function isEntry (): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}

if (isEntry()) {
  const doc = await openApiDocument()
  process.stdout.write(renderApiMarkdown(doc))
}
