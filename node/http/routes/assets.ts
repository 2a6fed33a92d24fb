import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { HttpModule } from '../context.js'

/** the pages' own scripts and styles (copied next to the compiled code by `npm run build`) */
export const STATIC_DIR = fileURLToPath(new URL('../static/', import.meta.url))

const require = createRequire(import.meta.url)
/** third-party files the pages use, served from node_modules: nothing is loaded from elsewhere */
const VENDOR: Record<string, string> = {
  'xterm/xterm.mjs': '@xterm/xterm/lib/xterm.mjs',
  'xterm/xterm.css': '@xterm/xterm/css/xterm.css',
  'asciinema/player.js': 'asciinema-player/dist/bundle/asciinema-player.min.js',
  'asciinema/player.css': 'asciinema-player/dist/bundle/asciinema-player.css'
}
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml'
}

interface Asset { body: Buffer, type: string, etag: string }

/**
 * `/assets/...`: a fixed set of files read once at start (the pages' modules, xterm.js,
 * asciinema-player). Names map to files through a table: no part of a URL reaches the file system.
 */
export const assets: HttpModule = {
  name: 'assets',
  async register (app) {
    const table = new Map<string, Asset>()
    const add = (name: string, body: Buffer): void => {
      table.set(name, { body, type: TYPES[extname(name)] ?? 'application/octet-stream', etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` })
    }
    for (const f of await readdir(STATIC_DIR)) add(`app/${f}`, await readFile(join(STATIC_DIR, f)))
    for (const [name, mod] of Object.entries(VENDOR)) add(name, await readFile(require.resolve(mod)))
    app.get<{ Params: { '*': string } }>('/assets/*', { schema: { hide: true } }, async (req, reply) => {
      const a = table.get(req.params['*'])
      if (a == null) return await reply.code(404).type('application/json').send({ code: 'ERR_NOT_FOUND', message: `no asset ${JSON.stringify(req.params['*'].slice(0, 200))}` })
      void reply.header('etag', a.etag).header('cache-control', 'no-cache').type(a.type)
      if (req.headers['if-none-match'] === a.etag) return await reply.code(304).send()
      return await reply.send(a.body)
    })
  }
}
