import { buildHttpApp } from './app.js'
import { Auth } from './auth.js'
import { parseHostPort } from './config.js'
import { Links } from './context.js'
import { HttpMetrics } from './metrics.js'
import { apiFiles } from './routes/api-files.js'
import { apiJobs } from './routes/api-jobs.js'
import { apiMesh } from './routes/api-mesh.js'
import { assets } from './routes/assets.js'
import { live } from './routes/live.js'
import { metrics } from './routes/metrics.js'
import { nixCache } from './routes/nix-cache.js'
import { pages } from './routes/pages.js'
import { NodeError } from '../errors.js'
import type { FastifyInstance } from 'fastify'
import type { ControlHandlers } from '../control/types.js'
import type { Logger } from '../../store/logger.js'
import type { HttpConfig } from './config.js'
import type { HttpContext, HttpModule } from './context.js'

/** the route modules every HTTP face serves, in order */
export const DEFAULT_MODULES: HttpModule[] = [apiJobs, apiFiles, apiMesh, live, metrics, nixCache, assets, pages]

export interface HttpFaceComponents {
  handlers: ControlHandlers
  logger: Logger
}

export interface HttpFaceInit extends HttpConfig {
  /** more route modules (webhooks…) after the default ones */
  modules?: HttpModule[]
}

/**
 * The daemon's HTTP face: pages, the API under `/api/v1/`, live websockets and `/metrics`, on
 * `http.listen`. Idempotent start/stop; stopping closes websockets and ends long requests.
 */
export class HttpFace {
  private app?: FastifyInstance
  private controller?: AbortController
  private metrics?: HttpMetrics
  private starting?: Promise<void>

  constructor (private readonly c: HttpFaceComponents, private readonly init: HttpFaceInit) {}

  /** the address it listens on (`host:port`), once started */
  address?: string

  async start (): Promise<void> {
    this.starting ??= this.startNow().catch(async err => {
      this.starting = undefined
      await this.stop()
      throw err
    })
    await this.starting
  }

  private async startNow (): Promise<void> {
    const hp = parseHostPort(this.init.listen ?? '')
    if (hp == null) throw new NodeError('ERR_INVALID_INPUT', `http.listen: ${JSON.stringify(this.init.listen)} is not HOST:PORT`)
    this.controller = new AbortController()
    let self = ''
    this.metrics = new HttpMetrics({ handlers: this.c.handlers, self: () => self, logger: this.c.logger })
    const ctx: HttpContext = {
      handlers: this.c.handlers,
      auth: new Auth({ check: async text => await this.c.handlers.tokenCheck(text) }),
      metrics: this.metrics,
      logger: this.c.logger,
      config: { listen: this.init.listen, publicUrl: this.init.publicUrl },
      links: new Links(this.init.publicUrl),
      signal: this.controller.signal
    }
    this.app = await buildHttpApp(ctx, [...DEFAULT_MODULES, ...(this.init.modules ?? [])])
    self = (await this.c.handlers.status()).peerId
    try {
      await this.app.listen({ host: hp.host, port: hp.port })
    } catch (err: any) {
      throw new NodeError('ERR_HTTP_LISTEN', `http.listen ${this.init.listen}: cannot listen (${String(err?.code ?? err?.message ?? err)})`, { cause: err })
    }
    const addr = this.app.server.address()
    this.address = addr != null && typeof addr === 'object' ? `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : this.init.listen
    // learning every job's state reads the whole table once: in the background
    void this.metrics.start(this.controller.signal).catch(err => { this.c.logger.warn('metrics could not read the jobs', { err }) })
    this.c.logger.info('http face listening', { address: this.address })
  }

  async stop (): Promise<void> {
    const app = this.app
    this.app = undefined
    this.controller?.abort(new NodeError('ERR_STOPPED', 'the daemon is stopping'))
    this.metrics?.stop()
    this.starting = undefined
    if (app == null) return
    // websockets first: close() waits for open connections
    for (const client of app.websocketServer?.clients ?? []) client.terminate()
    await app.close()
  }
}
