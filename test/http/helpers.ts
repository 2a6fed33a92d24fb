import { request } from 'node:http'
import { freePort } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'

export interface HttpReply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  text: string
  json: () => any
}

/**
 * One HTTP request to 127.0.0.1:port, the path sent exactly as given (no normalisation: `..`
 * stays `..`), bounded in time.
 */
export async function http (port: number, method: string, path: string, options: { headers?: Record<string, string>, body?: unknown, raw?: Buffer | string, timeoutMs?: number } = {}): Promise<HttpReply> {
  const data = options.raw != null ? Buffer.from(options.raw) : options.body !== undefined ? Buffer.from(JSON.stringify(options.body)) : undefined
  const headers: Record<string, string> = { ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers }
  if (data != null) headers['content-length'] = String(data.byteLength)
  return await new Promise<HttpReply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, signal: AbortSignal.timeout(options.timeoutMs ?? 60_000) }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        const text = body.toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json: () => JSON.parse(text) })
      })
    })
    req.on('error', reject)
    req.end(data)
  })
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

export interface HttpMesh extends TestMesh {
  /** each node's HTTP port */
  ports: number[]
}

/** a mesh of `count` daemons, each with its HTTP face on 127.0.0.1 (node 0 labelled alpha, the others beta) */
export async function makeHttpMesh (count: number, options: { slots?: number } = {}): Promise<HttpMesh> {
  const ports: number[] = []
  for (let i = 0; i < count; i++) ports.push(await freePort())
  const mesh = await makeMesh(count, {
    config: i => ({ http: { listen: `127.0.0.1:${ports[i]}`, publicUrl: `http://127.0.0.1:${ports[i]}` }, ...(options.slots != null ? { slots: options.slots } : {}) }),
    labels: i => [i === 0 ? 'alpha' : 'beta']
  })
  return { ...mesh, ports }
}

/** a job spec (JSON, as the API takes it) of one step */
export function oneStep (name: string, command: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, timeout: '2m', stages: [{ title: 'main', steps: [{ title: 'run', command }] }], ...extra }
}

export type { MeshNode }
