import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AttachService, attach } from '../../../protocols/attach/index.js'
import { TestMesh } from '../net/helpers.js'
import { RawClient, RealJobs, Viewer } from './helpers.js'
import { waitFor } from '../../helpers/wait.js'
import type { AttachMode, AttachServiceInit } from '../../../protocols/attach/index.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'

/** a job that prints a prompt, waits for one line and answers it */
const ECHO_LINE = 'echo ready; read line; echo "got:$line"'

describe('attach: /cit/attach/1.0.0 between two real nodes, jobs in real ptys', () => {
  let mesh: TestMesh
  let server: MeshLibp2p
  let client: MeshLibp2p
  let jobs: RealJobs
  let service: AttachService | undefined
  /** peer id → modes it may attach with */
  let grants: Map<string, Set<AttachMode>>

  beforeEach(async () => {
    mesh = new TestMesh()
    server = await mesh.node(await mesh.identity())
    client = await mesh.node(await mesh.identity())
    await client.dial(server.getMultiaddrs()[0])
    jobs = await RealJobs.create()
    grants = new Map([[client.peerId.toString(), new Set<AttachMode>(['ro', 'rw'])]])
  })

  afterEach(async () => {
    await service?.stop()
    service = undefined
    await jobs.cleanup()
    await mesh.stop()
  })

  async function serve (init: AttachServiceInit = {}): Promise<AttachService> {
    service = new AttachService({
      libp2p: server,
      jobs,
      authorize: (peer, _job, mode) => grants.get(peer)?.has(mode) === true ? { ok: true } : { ok: false, reason: `no ${mode} grant` }
    }, init)
    await service.start()
    return service
  }

  it('a line typed through an rw session reaches the job, and its answer comes back', async () => {
    await serve()
    const job = jobs.start(ECHO_LINE)
    const viewer = new Viewer(await attach(client, server.peerId, job.id, 'rw', { cols: 100, rows: 30 })).start()
    await viewer.waitForText('ready')
    await viewer.session.write('hello there\r')
    await viewer.waitForText('got:hello there')
    expect((await job.done).outcome).toBe('succeeded')
  })

  it('ends the session with the final state when the job ends', async () => {
    await serve()
    const job = jobs.start('echo ready; read x; echo bye; exit 3')
    const viewer = new Viewer(await attach(client, server.peerId, job.id, 'rw')).start()
    await viewer.waitForText('ready')
    await viewer.session.write('\r')
    await viewer.waitForEnd()
    expect(viewer.error).toBeUndefined()
    expect(viewer.text).toContain('bye')
    expect(viewer.frames.at(-1)).toEqual({ type: 'end', state: 'failed', exitCode: 3, reason: expect.stringContaining('exited with 3') })
    await waitFor(() => service!.stats().open === 0, { what: 'the session to be closed on the server' })
  })

  it('refuses input on a ro session and never forwards it to the job', async () => {
    await serve()
    const job = jobs.start(ECHO_LINE)
    const ro = new Viewer(await attach(client, server.peerId, job.id, 'ro')).start()
    await ro.waitForText('ready')
    await expect(ro.session.write('sneaky\r')).rejects.toMatchObject({ code: 'ERR_READ_ONLY' })
    await expect(ro.session.resize(50, 10)).rejects.toMatchObject({ code: 'ERR_READ_ONLY' })

    // a client that ignores its mode: the server refuses and says so
    const raw = await RawClient.open(client, server)
    raw.hello({ job: job.id, mode: 'ro', window: 65536 })
    expect(await raw.reply()).toMatchObject({ ok: true })
    raw.frame({ type: 'input', data: new TextEncoder().encode('sneaky\r') })
    let frame
    do frame = await raw.next(); while (frame?.type === 'output' || frame?.type === 'ping')
    expect(frame).toEqual({ type: 'refused', what: 'input', code: 'ERR_READ_ONLY' })
    await waitFor(() => service!.list().some(s => s.mode === 'ro' && s.refused.ERR_READ_ONLY === 1), { what: 'the refusal to be counted' })

    // the job is still waiting for its line: the first line it gets is the rw one (the tty would echo "sneaky" had it arrived)
    const rw = new Viewer(await attach(client, server.peerId, job.id, 'rw')).start()
    await rw.session.write('real\r')
    await rw.waitForText('got:real')
    expect(rw.text).not.toContain('sneaky')
    expect(ro.text).not.toContain('sneaky')
    raw.stream.abort(new Error('test over'))
  })

  it('refuses a peer the policy does not allow, rw for a peer allowed ro only, and cuts off a revoked one', async () => {
    await serve()
    const stranger = await mesh.node(await mesh.identity())
    await stranger.dial(server.getMultiaddrs()[0])
    const job = jobs.start(ECHO_LINE)
    await expect(attach(stranger, server.peerId, job.id, 'ro')).rejects.toMatchObject({ code: 'ERR_NOT_ALLOWED' })
    grants.set(stranger.peerId.toString(), new Set(['ro']))
    await expect(attach(stranger, server.peerId, job.id, 'rw')).rejects.toMatchObject({ code: 'ERR_NOT_ALLOWED' })
    const ro = new Viewer(await attach(stranger, server.peerId, job.id, 'ro')).start()
    await ro.waitForText('ready')
    await expect(attach(client, server.peerId, 'no-such-job', 'ro')).rejects.toMatchObject({ code: 'ERR_NOT_RUNNING' })
    expect(service!.stats().refused).toEqual({ ERR_NOT_ALLOWED: 2, ERR_NOT_RUNNING: 1 })
    // revoked while attached: a recheck cuts the session off
    grants.delete(stranger.peerId.toString())
    expect(await service!.recheck()).toBe(1)
    await ro.waitForEnd()
    expect(ro.error).toMatchObject({ code: 'ERR_CLOSED' })
    expect(service!.stats().errors).toEqual({ ERR_NOT_ALLOWED: 1 })
  })

  it('resizes the job terminal (stty size sees it) and tells every viewer', async () => {
    await serve()
    const job = jobs.start('echo ready; read a; stty size; read b; stty size')
    // the executor applies a size to a command's pty once it exists: attach rw after the prompt
    const ro = new Viewer(await attach(client, server.peerId, job.id, 'ro', { cols: 20, rows: 5 })).start()
    await ro.waitForText('ready')
    // a read-only viewer's own size changes nothing
    expect([ro.session.cols, ro.session.rows]).toEqual([120, 40])
    const rw = new Viewer(await attach(client, server.peerId, job.id, 'rw', { cols: 80, rows: 24 })).start()
    expect([rw.session.cols, rw.session.rows]).toEqual([80, 24])
    await waitFor(() => ro.frames.some(f => f.type === 'resize' && f.cols === 80 && f.rows === 24), { what: 'the first resize notice on the ro viewer' })
    await rw.session.write('\r')
    await rw.waitForText('24 80')
    await rw.session.resize(100, 30)
    await waitFor(() => ro.frames.some(f => f.type === 'resize' && f.cols === 100 && f.rows === 30), { what: 'the resize notice on the ro viewer' })
    await rw.session.write('\r')
    await rw.waitForText('30 100')
    await ro.waitForText('30 100')
  })

  it('two viewers at once both see the scrollback and the live output', async () => {
    await serve()
    const job = jobs.start('echo ready; read go; for i in 1 2 3; do echo "line-$i"; done')
    const first = new Viewer(await attach(client, server.peerId, job.id, 'rw')).start()
    await first.waitForText('ready')
    // the second arrives after "ready" was printed: it gets it from the scrollback
    const second = new Viewer(await attach(client, server.peerId, job.id, 'ro')).start()
    await second.waitForText('ready')
    await first.session.write('go\r')
    await first.waitForEnd()
    await second.waitForEnd()
    for (const v of [first, second]) {
      expect(v.text).toMatch(/line-1\r\nline-2\r\nline-3\r\n/)
      expect(v.end).toMatchObject({ state: 'succeeded', exitCode: 0 })
    }
  })

  it('a viewer that never reads does not slow the job: its buffer stays bounded and it gets a resync', async () => {
    const maxBufferedBytes = 256 * 1024
    await serve({ maxBufferedBytes, replayBytes: 64 * 1024 })
    const job = jobs.start("echo ready; read go; head -c 4000000 /dev/zero | tr '\\0' x | fold -w 99; echo; echo flood-done")
    const slow = await attach(client, server.peerId, job.id, 'rw', { windowBytes: 64 * 1024, ackBytes: 16 * 1024 })
    await jobs.printed(job.id, 'ready')
    await slow.write('go\r')
    // the job floods 4 MB and finishes while nobody reads this session
    const result = await job.done
    expect(result.outcome).toBe('succeeded')
    const [info] = service!.list()
    expect(info.maxQueuedBytes).toBeLessThanOrEqual(maxBufferedBytes)
    expect(info.droppedBytes).toBeGreaterThan(1_000_000)

    const viewer = new Viewer(slow).start()
    await viewer.waitForEnd()
    expect(viewer.error).toBeUndefined()
    const resync = viewer.frames.findIndex(f => f.type === 'resync')
    expect(resync).toBeGreaterThan(0)
    expect(viewer.frames[resync]).toMatchObject({ type: 'resync', dropped: expect.any(Number) })
    // after the resync: the scrollback's tail, starting on a line, with the end of the job's output in it
    const after = Buffer.concat(viewer.frames.slice(resync + 1).flatMap(f => f.type === 'output' ? [f.data] : [])).toString()
    expect(after).toMatch(/^x{99}\r\n/)
    expect(after).toContain('flood-done')
    expect(viewer.end).toMatchObject({ state: 'succeeded' })
    expect(service!.stats().resyncs).toBeGreaterThanOrEqual(1)
  })

  it('keepalives keep an idle session open past the idle limit; a silent client is cut off', async () => {
    const limits = { pingIntervalMs: 100, idleTimeoutMs: 500 }
    await serve(limits)
    const job = jobs.start(ECHO_LINE)
    const viewer = new Viewer(await attach(client, server.peerId, job.id, 'rw', limits)).start()
    await viewer.waitForText('ready')

    // a client that says hello and then nothing at all
    const silent = await RawClient.open(client, server)
    silent.hello({ job: job.id, mode: 'ro', window: 65536 })
    expect(await silent.reply()).toMatchObject({ ok: true })
    await waitFor(() => service!.stats().errors.ERR_TIMEOUT === 1, { what: 'the silent session to time out' })
    await expect((async () => { while (await silent.next(2000) !== undefined);})()).rejects.toBeDefined()

    // 15 pings heard: three times the idle limit has passed with nothing but keepalives
    await waitFor(() => (service!.list().find(s => s.mode === 'rw')?.pingsReceived ?? 0) >= 15, { what: 'fifteen keepalives' })
    expect(viewer.done).toBe(false)
    await viewer.session.write('still here\r')
    await viewer.waitForText('got:still here')
    expect(service!.stats().errors).toEqual({ ERR_TIMEOUT: 1 })
  })

  it('detaching leaves the job running, and another session can pick it up', async () => {
    await serve()
    const job = jobs.start(ECHO_LINE)
    const first = new Viewer(await attach(client, server.peerId, job.id, 'rw')).start()
    await first.waitForText('ready')
    await first.session.detach()
    await first.waitForEnd()
    expect(first.error).toBeUndefined()
    expect(first.end).toBeUndefined()
    await waitFor(() => service!.stats().open === 0, { what: 'the server to close the session' })
    expect(jobs.running(job.id)).toBe(true)
    await expect(first.session.write('late\r')).rejects.toMatchObject({ code: 'ERR_CLOSED' })

    const second = new Viewer(await attach(client, server.peerId, job.id, 'rw')).start()
    await second.waitForText('ready')
    await second.session.write('again\r')
    await second.waitForText('got:again')
    await second.waitForEnd()
    expect(second.end).toMatchObject({ state: 'succeeded' })
  })

  it('limits sessions per job and answers a malformed hello without falling over', async () => {
    await serve({ maxSessionsPerJob: 1 })
    const job = jobs.start(ECHO_LINE)
    const first = await attach(client, server.peerId, job.id, 'ro')
    await expect(attach(client, server.peerId, job.id, 'ro')).rejects.toMatchObject({ code: 'ERR_BUSY' })

    const raw = await RawClient.open(client, server)
    raw.sendBytes(new Uint8Array([0xa1, 0x61, 0x78, 0x01]))
    expect(await raw.reply()).toEqual({ ok: false, error: 'ERR_MALFORMED' })
    await first.detach()
    const again = new Viewer(await attach(client, server.peerId, job.id, 'rw')).start()
    await again.waitForText('ready')
  })

  it('attaches to a job on its own node through attachLocal', async () => {
    const svc = await serve()
    grants.set(server.peerId.toString(), new Set(['rw']))
    const job = jobs.start(ECHO_LINE)
    const viewer = new Viewer(await svc.attachLocal(server.peerId.toString(), job.id, 'rw', { cols: 90, rows: 20 })).start()
    await viewer.waitForText('ready')
    await viewer.session.write('local\r')
    await viewer.waitForText('got:local')
    await viewer.waitForEnd()
    expect(viewer.end).toMatchObject({ state: 'succeeded', exitCode: 0 })
    await expect(svc.attachLocal('12D3KooWNotAllowedPeerNotAllowedPeerNotAllowed', job.id, 'ro')).rejects.toMatchObject({ code: 'ERR_NOT_ALLOWED' })
  })
})
