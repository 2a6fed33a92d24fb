import { createHash, randomBytes } from 'node:crypto'
import { chmod, mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FetchService } from '../../../protocols/fetch/index.js'
import { FsBlobStore } from '../../../store/blobs/index.js'
import { TestMesh } from '../net/helpers.js'
import type { FetchServiceInit } from '../../../protocols/fetch/index.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'

export const MiB = 1024 * 1024

/** a member node with a real blob store in a temp dir, serving fetch requests */
export interface FetchNode {
  libp2p: MeshLibp2p
  blobs: FsBlobStore
  service: FetchService
  dir: string
  id: string
}

/**
 * Real libp2p nodes on 127.0.0.1, each with an FsBlobStore in its own temp dir and a FetchService.
 * `stop()` stops services, stores and nodes and removes the dirs (call it in afterEach).
 */
export class FetchMesh {
  readonly mesh = new TestMesh()
  readonly nodes: FetchNode[] = []
  /** peers refused the read role on every node of this mesh */
  readonly noRead = new Set<string>()
  private readonly dirs: string[] = []

  async node (options: { init?: FetchServiceInit, bootstrap?: string[] } = {}): Promise<FetchNode> {
    const identity = await this.mesh.identity()
    const libp2p = await this.mesh.node(identity, { bootstrap: options.bootstrap ?? [] })
    const dir = await mkdtemp(join(tmpdir(), 'cit-fetch-'))
    this.dirs.push(dir)
    const blobs = new FsBlobStore({}, { dir: join(dir, 'blobs') })
    await blobs.start()
    const service = new FetchService({ libp2p, blobs, isAllowed: (peer) => !this.noRead.has(peer) }, { bulkHost: '127.0.0.1', ...options.init })
    await service.start()
    const node = { libp2p, blobs, service, dir, id: libp2p.peerId.toString() }
    this.nodes.push(node)
    return node
  }

  /** connect every node to every other */
  async connectAll (): Promise<void> {
    for (const a of this.nodes) {
      for (const b of this.nodes) {
        if (a !== b && a.libp2p.getConnections(b.libp2p.peerId).length === 0) await a.libp2p.dial(b.libp2p.getMultiaddrs()[0])
      }
    }
  }

  async stop (): Promise<void> {
    const nodes = this.nodes.splice(0)
    await Promise.all(nodes.map(async n => { await n.service.stop() }))
    await Promise.all(nodes.map(async n => { await n.blobs.stop() }))
    await this.mesh.stop()
    await Promise.all(this.dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
  }
}

/**
 * A generator of `size` pseudo-random bytes in chunks, never holding more than one chunk;
 * `digest()` gives the sha256 of what was generated once it has run.
 */
export function randomSource (size: number, chunkBytes = MiB): { source: AsyncGenerator<Uint8Array>, digest: () => string } {
  const sha = createHash('sha256')
  async function * gen (): AsyncGenerator<Uint8Array> {
    for (let left = size; left > 0;) {
      const chunk = randomBytes(Math.min(chunkBytes, left))
      sha.update(chunk)
      left -= chunk.byteLength
      yield chunk
    }
  }
  let hex: string | undefined
  return { source: gen(), digest: () => (hex ??= sha.digest('hex')) }
}

/** store `size` random bytes in `node`'s blob store (streamed); returns the hash */
export async function storeRandom (node: FetchNode, size: number): Promise<string> {
  const { source } = randomSource(size)
  return (await node.blobs.put(source)).hash
}

/** sha256 of bytes */
export function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** flip one byte at each of `offsets` in `node`'s stored copy of `hash` (bit rot the store has not seen yet, a holder that lies) */
export async function corruptStored (node: FetchNode, hash: string, offsets: number[]): Promise<void> {
  const path = node.blobs.pathOf(hash)
  await chmod(path, 0o644)
  const fh = await open(path, 'r+')
  try {
    const b = Buffer.alloc(1)
    for (const off of offsets) {
      await fh.read(b, 0, 1, off)
      b[0] ^= 0xff
      await fh.write(b, 0, 1, off)
    }
  } finally {
    await fh.close()
    await chmod(path, 0o444)
  }
}
