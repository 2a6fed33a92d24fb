import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeCbor } from '../../protocols/codec/index.js'
import { ATTACH_PROTOCOL, attach } from '../../protocols/attach/index.js'
import { FETCH_PROTOCOL, fetchRange } from '../../protocols/fetch/index.js'
import { encodeFrame, encodeVarint, FrameReader, parsePage, SYNC_MAX_RESPONSE_BYTES, SYNC_PROTOCOL } from '../../protocols/sync/index.js'
import { waitFor } from '../helpers/cli.js'
import { makeMesh } from '../helpers/mesh.js'
import { joinInProcess } from '../helpers/member.js'
import { frames, message, varint } from './gen.js'
import { report, SEED } from './harness.js'
import { Prng, seedFrom } from './prng.js'
import type { InProcessMember } from '../helpers/member.js'
import type { MeshNode, TestMesh } from '../helpers/mesh.js'
import type { Stream } from '@libp2p/interface'

/** streams per protocol: `CIT_FUZZ_LIVE_STREAMS`, else 150 (1,000 under `npm run soak`) */
const STREAMS = Number(process.env.CIT_FUZZ_LIVE_STREAMS ?? '') > 0 ? Number(process.env.CIT_FUZZ_LIVE_STREAMS) : process.env.CIT_SOAK === '1' ? 1000 : 150

async function rssOf (pid: number): Promise<number> {
  return Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) * 1024
}

/** read what the daemon answers until it ends the stream, resets it, or `ms` pass */
async function drain (stream: Stream, ms: number): Promise<{ bytes: number, ended: 'closed' | 'reset' | 'timeout' }> {
  let bytes = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<'timeout'>(resolve => { timer = setTimeout(() => { resolve('timeout') }, ms) })
  const read = (async (): Promise<'closed' | 'reset'> => {
    try {
      for await (const chunk of stream) bytes += chunk.byteLength
      return stream.status === 'reset' || stream.status === 'aborted' ? 'reset' : 'closed'
    } catch {
      return 'reset'
    }
  })()
  const ended = await Promise.race([read, timeout])
  clearTimeout(timer)
  if (ended === 'timeout') stream.abort(new Error('the fuzzer is done with this stream'))
  return { bytes, ended }
}

describe('fuzz over the network: a member sends random frames to a live daemon', () => {
  let mesh: TestMesh
  let node: MeshNode
  let member: InProcessMember
  let pid = 0
  let logHash = ''
  let running = ''
  let quickJob: any

  beforeAll(async () => {
    console.log(`[fuzz] seed ${SEED} (set CIT_FUZZ_SEED=${SEED} to replay this run)`)
    mesh = await makeMesh(1, { config: () => ({ slots: 2 }) })
    node = mesh.nodes[0]
    pid = (await mesh.api(node).status()).pid
    const quick = join(node.home, 'quick.yaml')
    await writeFile(quick, 'name: quick\nstages:\n  - steps:\n      - echo hello from a live daemon\n')
    quickJob = await mesh.run(node, ['submit', quick, '--wait'])
    logHash = quickJob.log
    const long = join(node.home, 'long.yaml')
    await writeFile(long, 'name: long\ntimeout: 5m\nstages:\n  - steps:\n      - while true; do echo tick; sleep 0.5; done\n')
    running = (await mesh.run(node, ['submit', long])).id
    await waitFor(async () => (await mesh.api(node).show(running)).state === 'running', { what: 'the long job to run' })
    member = await joinInProcess(node.home, node, 'read')
  }, 120_000)

  afterAll(async () => {
    await member?.stop()
    await mesh?.close()
  })

  it('a mesh of one member runs its jobs to the end (it is the only acceptor of its jobs: it grants and votes for itself)', () => {
    expect(quickJob.state).toBe('succeeded')
    expect(quickJob.events.map((e: any) => e.type)).toEqual(['submitted', 'started', 'finished'])
  })

  const open = async (protocol: string): Promise<Stream> => await member.libp2p.dialProtocol(peerIdFromString(node.peerId), protocol, { signal: AbortSignal.timeout(5000) })

  /** send `chunks` on a new stream of `protocol`, maybe half-close, and see how the daemon ends it */
  async function exchange (protocol: string, chunks: Uint8Array[], rng: Prng): Promise<string> {
    let stream: Stream
    try {
      stream = await open(protocol)
    } catch {
      return 'stream refused'
    }
    try {
      try {
        for (const c of chunks) if (!stream.send(c)) await stream.onDrain({ signal: AbortSignal.timeout(2000) })
        if (rng.bool(0.7)) await stream.close({ signal: AbortSignal.timeout(2000) })
      } catch {
        return 'reset while sending'
      }
      const { bytes, ended } = await drain(stream, 400)
      return `${bytes > 0 ? 'reply, then ' : ''}${ended}`
    } finally {
      // done with it either way: a stream left half-open would hold one of this connection's
      // stream slots at the daemon until its read deadline (15 s)
      stream.abort(new Error('the fuzzer is done with this stream'))
    }
  }

  it('random frames on sync, fetch and attach: the daemon answers or resets each stream and keeps serving', async () => {
    const rssBefore = await rssOf(pid)
    const hello = { job: running, mode: 'ro', window: 65536 }
    const inputs: Record<string, (rng: Prng) => Uint8Array[]> = {
      [SYNC_PROTOCOL]: rng => frames(rng, [{ after: 0, limit: 16 }, { logId: 'x', after: 3, limit: 1 }]),
      [FETCH_PROTOCOL]: rng => rng.bool()
        ? frames(rng, [{ hash: logHash, start: 0 }, { credit: 65536 }])
        : [encodeFrame(message(rng, [{ hash: logHash, start: 0 }, { hash: logHash, start: 1, end: 5 }])), ...frames(rng, [{ credit: 4096 }])],
      [ATTACH_PROTOCOL]: rng => rng.bool()
        ? frames(rng, [hello])
        : [encodeFrame(encodeCbor(hello)), ...frames(rng, [{ type: 'credit', bytes: 1024 }, { type: 'ping' }, { type: 'input', data: new Uint8Array([65]) }, { type: 'resize', cols: 10, rows: 10 }])]
    }
    const outcomes: Record<string, Record<string, number>> = {}
    for (const [protocol, gen] of Object.entries(inputs)) {
      const tally: Record<string, number> = {}
      // two streams at a time, within the daemon's per-connection stream limits
      for (let i = 0; i < STREAMS; i += 2) {
        const results = await Promise.all([i, i + 1].map(async j => {
          const rng = new Prng(seedFrom(SEED, protocol, j))
          return await exchange(protocol, gen(rng), rng)
        }))
        for (const r of results) tally[r] = (tally[r] ?? 0) + 1
      }
      outcomes[protocol] = tally
    }
    // the same process is still there and answers
    const status = await mesh.api(node).status()
    expect(status.pid).toBe(pid)
    const rssAfter = await rssOf(pid)

    // and still serves: a sync page, the log blob, a read-only terminal
    const sync = await open(SYNC_PROTOCOL)
    sync.send(encodeFrame(encodeCbor({ after: 0, limit: 8 })))
    const frame = await new FrameReader(sync).read(SYNC_MAX_RESPONSE_BYTES, 5000, AbortSignal.timeout(5000))
    const page = parsePage(frame!, SYNC_MAX_RESPONSE_BYTES, { after: 0, limit: 8 })
    expect(page.items.length).toBeGreaterThan(0)
    sync.abort(new Error('done'))
    const hash = createHash('sha256')
    await fetchRange(member.libp2p, node.peerId, logHash, 0, undefined, chunk => { hash.update(chunk) })
    expect(hash.digest('hex')).toBe(logHash)
    const session = await attach(member.libp2p, node.peerId, running, 'ro')
    let seen = ''
    for await (const f of session.output) {
      if (f.type === 'output') seen += Buffer.from(f.data).toString()
      if (seen.includes('tick')) break
    }
    await session.detach()
    expect(seen).toContain('tick')
    const messages = status.messages as any
    report('live-fuzz', {
      seed: SEED,
      streamsPerProtocol: STREAMS,
      outcomes,
      rssGrowthBytes: rssAfter - rssBefore,
      daemonCounters: { syncServedErrors: messages?.sync?.served?.errors, fetchErrors: messages?.fetch?.errors, attachRefused: messages?.attach?.refused, attachErrors: messages?.attach?.errors }
    })
    expect(rssAfter - rssBefore).toBeLessThan(150 * 1024 * 1024)
  }, 60_000 + STREAMS * 3 * 400)

  it('a frame announcing 1 GiB (or 255 MiB) is refused at once on every protocol, before its body is buffered', async () => {
    const rssBefore = await rssOf(pid)
    const figures: Record<string, { refusedAfterMs: number, bytesSent: number, ended: string }> = {}
    for (const protocol of [SYNC_PROTOCOL, FETCH_PROTOCOL, ATTACH_PROTOCOL]) {
      for (const [what, prefix] of [['1 GiB', varint(2 ** 30)], ['255 MiB', encodeVarint(2 ** 28 - 1)]] as const) {
        const stream = await open(protocol)
        const t0 = performance.now()
        stream.send(prefix)
        const reading = drain(stream, 10_000)
        // keep sending as a flooding peer would, until the daemon cuts the stream off
        let sent = 0
        const chunk = new Uint8Array(64 * 1024)
        let done = false
        void reading.then(() => { done = true })
        while (!done && sent < 64 * 1024 * 1024) {
          try {
            if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(2000) })
            sent += chunk.byteLength
          } catch {
            break
          }
          await new Promise(resolve => setImmediate(resolve))
        }
        const { ended } = await reading
        const ms = Math.round(performance.now() - t0)
        figures[`${protocol} ${what}`] = { refusedAfterMs: ms, bytesSent: sent, ended }
        stream.abort(new Error('done'))
        expect(ended, `${protocol} ${what}`).not.toBe('timeout')
        expect(ms, `${protocol} ${what}`).toBeLessThan(3000)
      }
    }
    expect((await mesh.api(node).status()).pid).toBe(pid)
    const growth = (await rssOf(pid)) - rssBefore
    report('oversized-frames', { figures, rssGrowthBytes: growth })
    expect(growth).toBeLessThan(150 * 1024 * 1024)
  }, 120_000)
})
