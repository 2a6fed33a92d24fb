import type { FastifyInstance } from 'fastify'
import type { Logger } from '../../store/logger.js'
import type { ControlHandlers } from '../control/types.js'
import type { Auth } from './auth.js'
import type { HttpConfig } from './config.js'
import type { HttpMetrics } from './metrics.js'

/** Everything a route module may use: the daemon (through ControlHandlers), auth, metrics, links. */
export interface HttpContext {
  handlers: ControlHandlers
  auth: Auth
  metrics: HttpMetrics
  logger: Logger
  config: HttpConfig
  links: Links
  /** aborted when the HTTP face stops: long requests and websockets end with it */
  signal: AbortSignal
}

/**
 * A set of routes (pages, the API, metrics, webhooks…). Each is registered in its own
 * encapsulated Fastify plugin: hooks, content-type parsers and body limits it sets stay its own,
 * while the error replies, auth and the OpenAPI document are shared.
 */
export interface HttpModule {
  name: string
  register: (app: FastifyInstance, ctx: HttpContext) => Promise<void>
}

/** Addresses of the HTTP face's pages, absolute when `http.publicUrl` is set. */
export class Links {
  constructor (private readonly publicUrl?: string) {}

  /** `/jobs/ID` (absolute with `absolute`, when a public URL is configured) */
  job (id: string, options: { absolute?: boolean } = {}): string {
    return this.prefix(options) + `/jobs/${encodeURIComponent(id)}`
  }

  name (name: string, options: { absolute?: boolean } = {}): string {
    return this.prefix(options) + `/names/${encodeURIComponent(name)}`
  }

  private prefix (options: { absolute?: boolean }): string {
    return options.absolute === true && this.publicUrl != null ? this.publicUrl : ''
  }
}
