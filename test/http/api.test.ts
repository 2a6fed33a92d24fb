import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { cli, json, waitFor } from '../helpers/cli.js'
import { bearer, http, makeHttpMesh, oneStep } from './helpers.js'
import { parseExposition, valueOf } from './prom.js'
import { openApiDocument } from '../../node/http/api-doc.js'
import type { HttpMesh, MeshNode } from './helpers.js'

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** one value of /metrics, read by a strict exposition parser (a histogram: its count) */
function metric (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return valueOf(parseExposition(text), name, labels)
}

describe('HTTP API on a two-node mesh', () => {
  let mesh: HttpMesh
  let a: MeshNode, b: MeshNode
  let pa: number, pb: number
  let submit: string, read: string
  const get = async (port: number, path: string, headers: Record<string, string> = {}) => await http(port, 'GET', path, { headers })
  const post = async (port: number, path: string, body?: unknown, headers: Record<string, string> = {}) => await http(port, 'POST', path, { body, headers: { ...bearer(submit), ...headers } })
  const finished = async (port: number, id: string): Promise<any> => await waitFor(async () => {
    const j = (await get(port, `/api/v1/jobs/${id}`)).json()
    return ['succeeded', 'failed', 'cancelled', 'timed-out'].includes(j.state) ? j : undefined
  }, { timeoutMs: 60_000, what: `job ${id} to end` })

  beforeAll(async () => {
    mesh = await makeHttpMesh(2)
    ;[a, b] = mesh.nodes
    ;[pa, pb] = mesh.ports
    submit = (await mesh.run(b, ['token', 'create', '--role', 'submit'])).token
    read = (await mesh.run(b, ['token', 'create', '--role', 'read', '--expires', '30d'])).token
    await waitFor(async () => (await get(pb, '/api/v1/peers')).json().length === 2, { timeoutMs: 30_000, what: 'both members in the peers list' })
  }, 120_000)

  afterAll(async () => { await mesh?.close() })

  it('peers: both members, as `peers --json` shows them', async () => {
    const r = await get(pb, '/api/v1/peers')
    expect(r.status).toBe(200)
    const cliPeers = await mesh.run(b, ['peers'])
    expect(r.json().map((p: any) => p.peerId).sort()).toEqual(cliPeers.map((p: any) => p.peerId).sort())
    expect(r.json().map((p: any) => p.peerId).sort()).toEqual([a.peerId, b.peerId].sort())
    const pa0 = r.json().find((p: any) => p.peerId === a.peerId)
    expect(pa0.state).toBe('active')
    // a node with Nix installed adds the nix label by itself (docs/nix.md)
    expect(pa0.labels.filter((l: string) => l !== 'nix')).toEqual(['alpha'])
    expect(typeof pa0.load.slotsFree).toBe('number')
    expect(typeof pa0.reportAgeMs).toBe('number')
  })

  it('submits on one node, runs on the other; the job document is `show --json`; events, spec, filters and paging', async () => {
    const created = await post(pb, '/api/v1/jobs', { spec: oneStep('on-alpha', 'echo built-on-$(hostname) > out.txt; printf "0123456789" > digits.bin; echo done', { requires: { labels: ['alpha'] }, artefacts: ['out.txt', 'digits.bin'] }) })
    expect(created.status).toBe(201)
    const id = created.json().id
    expect(created.headers.location).toBe(`/api/v1/jobs/${id}`)
    const job = await finished(pb, id)
    expect(job.state).toBe('succeeded')
    expect(job.executor).toBe(a.peerId)
    const shown = json(await cli(['show', id, '--json'], { home: b.home }))
    expect(job).toEqual(shown)
    const events = (await get(pb, `/api/v1/jobs/${id}/events`)).json()
    expect(events.map((e: any) => e.type)).toEqual(expect.arrayContaining(['submitted', 'started', 'finished']))
    expect(events.find((e: any) => e.type === 'started').node).toBe(a.peerId)
    expect((await get(pb, `/api/v1/jobs/${id}/spec`)).json()).toMatchObject({ name: 'on-alpha', artefacts: ['out.txt', 'digits.bin'] })
    // a prefix and a name resolve too
    expect((await get(pb, `/api/v1/jobs/${id.slice(0, 10)}`)).json().id).toBe(id)
    expect((await get(pb, '/api/v1/jobs/on-alpha')).json().id).toBe(id)

    const second = (await post(pb, '/api/v1/jobs', { spec: oneStep('on-beta', 'echo hi', { requires: { labels: ['beta'] } }) })).json()
    await finished(pb, second.id)
    const byName = (await get(pb, '/api/v1/jobs?name=on-alpha')).json()
    expect(byName.jobs.map((j: any) => j.id)).toEqual([id])
    expect(byName.jobs[0]).toMatchObject({ name: 'on-alpha', state: 'succeeded', executor: a.peerId, origin: b.peerId, exitCode: 0 })
    expect((await get(pb, `/api/v1/jobs?node=${a.peerId}&name=on-beta`)).json().jobs).toEqual([])
    expect((await get(pb, `/api/v1/jobs?node=${b.peerId.slice(0, 12)}&name=on-beta`)).json().jobs.map((j: any) => j.id)).toEqual([second.id])
    expect((await get(pb, '/api/v1/jobs?state=queued,running&name=on-alpha')).json().jobs).toEqual([])
    expect((await get(pb, '/api/v1/jobs?state=succeeded&state=failed&name=on-alpha')).json().jobs).toHaveLength(1)
    // paging: newest first, one per page, the cursor goes on to older jobs
    const p1 = (await get(pb, '/api/v1/jobs?limit=1')).json()
    expect(p1.jobs).toHaveLength(1)
    expect(p1.next).toEqual(expect.any(String))
    const p2 = (await get(pb, `/api/v1/jobs?limit=1&cursor=${encodeURIComponent(p1.next)}`)).json()
    expect(p2.jobs).toHaveLength(1)
    expect(p2.jobs[0].submittedAt).toBeLessThanOrEqual(p1.jobs[0].submittedAt)
    expect(p2.jobs[0].id).not.toBe(p1.jobs[0].id)
    // the same list from the other member: it knows every job of the mesh
    await waitFor(async () => (await get(pa, '/api/v1/jobs?name=on-alpha')).json().jobs[0]?.state === 'succeeded', { what: 'a to know the job' })
  }, 120_000)

  it('logs and artefacts: asciicast, plain text, download by path from the node that holds it, ETag, Range, If-None-Match', async () => {
    const id = (await get(pb, '/api/v1/jobs?name=on-alpha')).json().jobs[0].id
    const job = (await get(pb, `/api/v1/jobs/${id}`)).json()
    const cast = await get(pb, `/api/v1/jobs/${id}/log`)
    expect(cast.status).toBe(200)
    expect(cast.headers['content-type']).toContain('application/x-asciicast')
    expect(JSON.parse(cast.text.split('\n')[0])).toMatchObject({ version: 2 })
    expect(cast.headers.etag).toBe(`"${job.log}"`)
    expect(sha256(cast.body)).toBe(job.log)
    const text = await get(pb, `/api/v1/jobs/${id}/log.txt`)
    expect(text.headers['content-type']).toContain('text/plain')
    expect(text.text).toContain('done')
    // eslint-disable-next-line no-control-regex
    expect(text.text).not.toMatch(/\x1b/)

    const digits = job.artefacts.find((x: any) => x.path === 'digits.bin')
    const whole = await get(pb, `/api/v1/jobs/${id}/artefacts/digits.bin`)
    expect(whole.status).toBe(200)
    expect(whole.text).toBe('0123456789')
    expect(whole.headers['content-length']).toBe('10')
    expect(whole.headers.etag).toBe(`"${digits.sha256}"`)
    expect(whole.headers['accept-ranges']).toBe('bytes')
    expect(sha256(whole.body)).toBe(digits.sha256)
    const part = await get(pb, `/api/v1/jobs/${id}/artefacts/digits.bin`, { range: 'bytes=2-5' })
    expect(part.status).toBe(206)
    expect(part.text).toBe('2345')
    expect(part.headers['content-range']).toBe('bytes 2-5/10')
    expect(part.headers['content-length']).toBe('4')
    expect((await get(pb, `/api/v1/blobs/${digits.sha256}`, { range: 'bytes=-3' })).text).toBe('789')
    expect((await get(pb, `/api/v1/blobs/${digits.sha256}`, { range: 'bytes=7-' })).text).toBe('789')
    const past = await get(pb, `/api/v1/blobs/${digits.sha256}`, { range: 'bytes=10-20' })
    expect(past.status).toBe(416)
    expect(past.json().code).toBe('ERR_RANGE_NOT_SATISFIABLE')
    expect(past.headers['content-range']).toBe('bytes */10')
    expect((await get(pb, `/api/v1/blobs/${digits.sha256}`, { 'if-none-match': `"${digits.sha256}"` })).status).toBe(304)
    expect((await get(pb, `/api/v1/blobs/sha256:${digits.sha256}`)).text).toBe('0123456789')
    expect((await get(pb, `/api/v1/jobs/${id}/artefacts`)).json()).toEqual(job.artefacts)
    const head = await http(pb, 'HEAD', `/api/v1/blobs/${digits.sha256}`)
    expect(head.status).toBe(200)
    expect(head.headers['content-length']).toBe('10')
  })

  it('refuses path traversal in artefact routes, unknown jobs and hashes, bad input, big bodies', async () => {
    const id = (await get(pb, '/api/v1/jobs?name=on-alpha')).json().jobs[0].id
    for (const path of ['../../identity.key', '..%2f..%2fidentity.key', '%2e%2e/%2e%2e/identity.key', 'a/../../../etc/passwd', './out.txt', '%2fetc%2fpasswd', 'out.txt%00.png', 'x\\..\\y']) {
      const r = await get(pb, `/api/v1/jobs/${id}/artefacts/${path}`)
      expect(r.status, path).toBe(400)
      expect(r.json().code, path).toBe('ERR_INVALID_PATH')
      expect(r.text).not.toContain('PRIVATE')
    }
    const missing = await get(pb, `/api/v1/jobs/${id}/artefacts/nope.txt`)
    expect([missing.status, missing.json().code]).toEqual([404, 'ERR_ARTEFACT_NOT_FOUND'])
    const unknown = '0'.repeat(64)
    for (const path of [`/api/v1/jobs/${unknown}`, `/api/v1/jobs/${unknown}/events`, `/api/v1/jobs/${unknown}/log`, `/api/v1/jobs/${unknown}/log.txt`, `/api/v1/jobs/${unknown}/artefacts/x`, '/api/v1/jobs/no-such-name']) {
      const r = await get(pb, path)
      expect([r.status, r.json().code], path).toEqual([404, 'ERR_JOB_NOT_FOUND'])
      expect(typeof r.json().message).toBe('string')
    }
    for (const path of [`/api/v1/jobs/${unknown}/cancel`, `/api/v1/jobs/${unknown}/rerun`]) {
      expect((await post(pb, path)).json().code).toBe('ERR_JOB_NOT_FOUND')
    }
    const noBlob = await get(pb, `/api/v1/blobs/${'ab'.repeat(32)}`)
    expect(noBlob.status).toBe(404)
    expect(['ERR_BLOB_NOT_FOUND', 'ERR_NO_HOLDERS']).toContain(noBlob.json().code)
    expect((await get(pb, '/api/v1/blobs/xyz')).json()).toMatchObject({ code: 'ERR_INVALID_HASH' })
    expect((await get(pb, '/api/v1/nothing')).json()).toMatchObject({ code: 'ERR_UNKNOWN_ROUTE' })
    expect((await get(pb, '/api/v1/jobs?state=bogus')).status).toBe(400)
    expect((await get(pb, '/api/v1/jobs?limit=0')).json().code).toBe('ERR_INVALID_INPUT')
    expect((await get(pb, '/api/v1/jobs?cursor=nonsense')).json().code).toBe('ERR_INVALID_INPUT')
    const invalid = await post(pb, '/api/v1/jobs', { spec: { name: 'x', stages: [] } })
    expect([invalid.status, invalid.json().code]).toEqual([400, 'ERR_INVALID_INPUT'])
    expect(invalid.json().problems.length).toBeGreaterThan(0)
    expect((await post(pb, '/api/v1/jobs', { nope: 1 })).json().code).toBe('ERR_INVALID_INPUT')
    const notJson = await http(pb, 'POST', '/api/v1/jobs', { raw: '{"spec":', headers: { ...bearer(submit), 'content-type': 'application/json' } })
    expect([notJson.status, notJson.json().code]).toEqual([400, 'ERR_INVALID_INPUT'])
    const wrongType = await http(pb, 'POST', '/api/v1/jobs', { raw: 'name: x', headers: { ...bearer(submit), 'content-type': 'text/yaml' } })
    expect([wrongType.status, wrongType.json().code]).toEqual([415, 'ERR_UNSUPPORTED_MEDIA_TYPE'])
    const big = await http(pb, 'POST', '/api/v1/jobs', { raw: JSON.stringify({ spec: { name: 'x'.repeat(2 * 1024 * 1024) } }), headers: { ...bearer(submit), 'content-type': 'application/json' } })
    expect([big.status, big.json().code]).toEqual([413, 'ERR_BODY_TOO_LARGE'])
    // the daemon is unharmed
    expect((await get(pb, '/api/v1/peers')).status).toBe(200)
  })

  it('tokens: writes need a submit token (401 without, 403 with read); revoked and expired tokens are refused; reads elsewhere need one', async () => {
    const spec = { spec: oneStep('never-runs', 'true', { requires: { labels: ['nowhere'] } }) }
    const none = await http(pb, 'POST', '/api/v1/jobs', { body: spec })
    expect([none.status, none.json().code]).toEqual([401, 'ERR_UNAUTHORIZED'])
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/)
    const wrong = await http(pb, 'POST', '/api/v1/jobs', { body: spec, headers: bearer('citk_000000000000_' + 'x'.repeat(32)) })
    expect(wrong.status).toBe(401)
    const ro = await http(pb, 'POST', '/api/v1/jobs', { body: spec, headers: bearer(read) })
    expect([ro.status, ro.json().code]).toEqual([403, 'ERR_FORBIDDEN'])
    // a token of one node is nothing on another
    expect((await http(pa, 'POST', '/api/v1/jobs', { body: spec, headers: bearer(submit) })).status).toBe(401)
    for (const path of ['/cancel', '/rerun']) expect((await http(pb, 'POST', `/api/v1/jobs/x${path}`, { headers: bearer(read) })).status).toBe(403)

    // a request naming another host is not local (a page loaded through DNS rebinding): reads need a token
    const foreign = { host: 'cit.example.org' }
    expect((await get(pb, '/api/v1/jobs', foreign)).status).toBe(401)
    expect((await get(pb, '/', foreign)).status).toBe(401)
    expect((await get(pb, '/metrics', foreign)).status).toBe(401)
    expect((await get(pb, '/api/v1/jobs', { ...foreign, ...bearer(read) })).status).toBe(200)
    expect((await get(pb, '/api/v1/jobs', { ...foreign, cookie: `cit_token=${encodeURIComponent(read)}` })).status).toBe(200)
    // ...but a cookie never authorises a write
    expect((await http(pb, 'POST', '/api/v1/jobs', { body: spec, headers: { cookie: `cit_token=${encodeURIComponent(submit)}` } })).status).toBe(401)
    expect((await get(pb, '/api/v1/whoami', bearer(read))).json()).toMatchObject({ role: 'read', read: true, submit: false })

    const short = await mesh.run(b, ['token', 'create', '--role', 'submit', '--expires', '1s'])
    const revoked = await mesh.run(b, ['token', 'create', '--role', 'submit'])
    expect(await mesh.run(b, ['token', 'revoke', revoked.id])).toMatchObject({ id: revoked.id, state: 'revoked' })
    expect((await http(pb, 'POST', '/api/v1/jobs', { body: spec, headers: bearer(revoked.token) })).status).toBe(401)
    await waitFor(() => Date.now() > short.expiresAt + 50, { timeoutMs: 5000 })
    expect((await http(pb, 'POST', '/api/v1/jobs', { body: spec, headers: bearer(short.token) })).status).toBe(401)
    const list = await mesh.run(b, ['token', 'list'])
    expect(list.find((t: any) => t.id === revoked.id).state).toBe('revoked')
    expect(list.find((t: any) => t.id === short.id).state).toBe('expired')
    expect(JSON.stringify(list)).not.toContain(revoked.token.split('_')[2])
    expect((await cli(['token', 'revoke', 'ffffffffffff'], { home: b.home })).code).toBe(2)
  })

  it('cancel, re-run and priority act as this node: a job this node may not cancel is 403', async () => {
    // queued forever (no node has the label): priority changes, then cancel
    const queued = (await post(pb, '/api/v1/jobs', { spec: oneStep('waits', 'true', { requires: { labels: ['nowhere'] } }) })).json()
    const pr = await post(pb, `/api/v1/jobs/${queued.id}/priority`, { priority: 7 })
    expect([pr.status, pr.json().priority]).toEqual([200, 7])
    expect((await post(pb, `/api/v1/jobs/${queued.id}/priority`, { priority: 'high' })).status).toBe(400)
    const cancelled = await post(pb, `/api/v1/jobs/${queued.id}/cancel`)
    expect(cancelled.status).toBe(200)
    await waitFor(async () => (await get(pb, `/api/v1/jobs/${queued.id}`)).json().state === 'cancelled', { what: 'the cancel' })
    expect((await post(pb, `/api/v1/jobs/${queued.id}/priority`, { priority: 1 })).status).toBe(400)

    // a job a submitted: b's key is neither its submitter nor an admin
    const fromA = await mesh.run(a, ['submit', await writeSpec(a, 'from-a', 'sleep 30', ['nowhere'])])
    await waitFor(async () => (await get(pb, `/api/v1/jobs/${fromA.id}`)).status === 200, { what: 'b to learn of a\'s job' })
    const refused = await post(pb, `/api/v1/jobs/${fromA.id}/cancel`)
    expect([refused.status, refused.json().code]).toEqual([403, 'ERR_FORBIDDEN'])
    await mesh.run(a, ['cancel', fromA.id])

    const old = (await get(pb, '/api/v1/jobs?name=on-beta')).json().jobs[0]
    const again = await post(pb, `/api/v1/jobs/${old.id}/rerun`)
    expect(again.status).toBe(201)
    expect(again.json().id).not.toBe(old.id)
    expect(again.json().name).toBe('on-beta')
    expect((await finished(pb, again.json().id)).state).toBe('succeeded')
  }, 90_000)

  it('websocket: a running job\'s output produced on the other node reaches every viewer live, with its events and its end', async () => {
    const job = (await post(pb, '/api/v1/jobs', { spec: oneStep('ticker', 'for i in $(seq 1 16); do echo tick-$i; sleep 0.25; done', { requires: { labels: ['alpha'] } }) })).json()
    await waitFor(async () => (await get(pb, `/api/v1/jobs/${job.id}`)).json().state === 'running', { what: 'the ticker to run on a' })
    const viewers = [0, 1].map(() => watch(pb, job.id))
    const results = await Promise.all(viewers)
    for (const r of results) {
      expect(r.text).toMatch(/tick-1[0-6]/)
      expect(r.hello.executor).toBe(a.peerId)
      expect(r.end.state).toBe('succeeded')
      expect(r.events).toContain('finished')
      // live, not one replay at the end: output came in pieces over time
      expect(r.frames).toBeGreaterThan(3)
      expect(r.lastAt - r.firstAt).toBeGreaterThan(1000)
    }
    // a finished job: hello then end at once
    const done = await watch(pb, job.id)
    expect(done.end.state).toBe('succeeded')
    // refused: a plain GET, an unknown job, another site's page, a foreign host without a token
    expect((await get(pb, `/api/v1/jobs/${job.id}/live`)).status).toBe(426)
    expect(await upgradeStatus(pb, `/api/v1/jobs/${'0'.repeat(64)}/live`)).toBe(404)
    expect(await upgradeStatus(pb, `/api/v1/jobs/${job.id}/live`, { origin: 'http://evil.example' })).toBe(403)
    expect(await upgradeStatus(pb, `/api/v1/jobs/${job.id}/live`, { host: 'evil.example' })).toBe(401)
  }, 90_000)

  it('a viewer that never reads is dropped and the daemon stays small', async () => {
    const job = (await post(pb, '/api/v1/jobs', { spec: oneStep('flood', 'sleep 1; head -c 40000000 /dev/zero | tr "\\0" x; sleep 1', { requires: { labels: ['beta'] } }) })).json()
    // a raw websocket handshake, then never a read
    const sock = connect(pb, '127.0.0.1')
    sock.write(`GET /api/v1/jobs/${job.id}/live HTTP/1.1\r\nHost: 127.0.0.1:${pb}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
    sock.pause()
    await finished(pb, job.id)
    const text = await waitFor(async () => {
      const t = (await get(pb, '/metrics')).text
      return (metric(t, 'cit_http_live_dropped_total', { reason: 'slow' }) ?? 0) > 0 ? t : undefined
    }, { timeoutMs: 30_000, what: 'the slow viewer to be dropped' })
    expect(metric(text, 'cit_http_live_viewers')).toBe(0)
    expect(metric(text, 'cit_process_resident_memory_bytes')).toBeLessThan(600 * 1024 * 1024)
    sock.destroy()
  }, 90_000)

  it('/metrics parses as Prometheus text and its counters move when jobs run', async () => {
    const before = (await get(pb, '/metrics')).text
    const job = (await post(pb, '/api/v1/jobs', { spec: oneStep('counted', 'echo counted > c.txt', { requires: { labels: ['alpha'] }, artefacts: ['c.txt'] }) })).json()
    const done = await finished(pb, job.id)
    // b fetches the artefact a holds: bytes fetched on b, served on a
    expect((await get(pb, `/api/v1/blobs/${done.artefacts[0].sha256}`)).text).toBe('counted\n')
    const after = (await get(pb, '/metrics')).text
    expect(metric(after, 'cit_job_run_seconds')).toBeGreaterThan(metric(before, 'cit_job_run_seconds') ?? 0)
    expect(metric(after, 'cit_job_run_seconds', { state: 'succeeded' })).toBeGreaterThan(0)
    expect(metric(after, 'cit_jobs', { state: 'succeeded' })).toBeGreaterThan(metric(before, 'cit_jobs', { state: 'succeeded' })!)
    expect(metric(after, 'cit_job_claim_latency_seconds')).toBeGreaterThan(metric(before, 'cit_job_claim_latency_seconds') ?? 0)
    expect(metric(after, 'cit_bytes_fetched_total')).toBeGreaterThan(metric(before, 'cit_bytes_fetched_total') ?? 0)
    const onA = (await get(pa, '/metrics')).text
    expect(metric(onA, 'cit_bytes_served_total')).toBeGreaterThan(0)
    expect(metric(onA, 'cit_lease_operations_total', { op: 'claim' })).toBeGreaterThan(0)
    expect(metric(after, 'cit_peers', { state: 'active' })).toBe(2)
    expect(metric(after, 'cit_peers_connected')).toBe(1)
    expect(metric(after, 'cit_queue_length')).toBeGreaterThanOrEqual(0)
    expect(metric(after, 'cit_process_cpu_seconds_total')).toBeGreaterThan(0)
    const names = [...parseExposition(after).keys()]
    expect(names.every(n => n.startsWith('cit_'))).toBe(true)
    expect(names).toEqual(expect.arrayContaining(['cit_messages_dropped_total', 'cit_lease_operations_total', 'cit_jobs', 'cit_http_live_viewers']))
    // the reader is strict: a malformed exposition is refused
    expect(() => parseExposition('# TYPE cit_x gauge\ncit_x{a="1} 1\n')).toThrow(/malformed (labels|sample line)/)
    expect(() => parseExposition('# TYPE cit_h histogram\ncit_h_bucket{le="1"} 2\ncit_h_bucket{le="+Inf"} 1\ncit_h_count 1\n')).toThrow(/buckets not cumulative/)
  }, 90_000)

  it('serves its OpenAPI document with every API route', async () => {
    const doc = (await get(pb, '/api/openapi.json')).json()
    expect(doc.openapi).toMatch(/^3\./)
    for (const p of ['/api/v1/jobs', '/api/v1/jobs/{id}', '/api/v1/jobs/{id}/events', '/api/v1/jobs/{id}/log', '/api/v1/jobs/{id}/log.txt', '/api/v1/jobs/{id}/artefacts/{*}', '/api/v1/blobs/{hash}', '/api/v1/peers', '/api/v1/jobs/{id}/cancel', '/api/v1/jobs/{id}/rerun', '/api/v1/jobs/{id}/priority', '/metrics']) {
      expect(Object.keys(doc.paths), p).toContain(p)
    }
    expect(doc.components.schemas.Job.properties.events).toBeDefined()
    // the daemon serves the document docs/api.md is checked against
    expect(doc).toEqual(await openApiDocument())
  })

  async function writeSpec (n: MeshNode, name: string, command: string, labels: string[]): Promise<string> {
    const { writeFile } = await import('node:fs/promises')
    const { join } = await import('node:path')
    const file = join(n.home, `${name}.yaml`)
    await writeFile(file, `name: ${name}\nrequires: { labels: [${labels.join(', ')}] }\nstages:\n  - steps:\n      - ${command}\n`)
    return file
  }
})

interface Watched { text: string, frames: number, firstAt: number, lastAt: number, hello: any, end: any, events: string[] }

/** follow a job's live websocket to its end */
async function watch (port: number, id: string): Promise<Watched> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/jobs/${id}/live`)
  const out: Watched = { text: '', frames: 0, firstAt: 0, lastAt: 0, hello: undefined, end: undefined, events: [] }
  return await new Promise<Watched>((resolve, reject) => {
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no end from the live socket: ${out.text.slice(-200)}`)) }, 60_000)
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        out.frames++
        out.firstAt ||= Date.now()
        out.lastAt = Date.now()
        out.text += data.toString()
        return
      }
      const m = JSON.parse(data.toString())
      if (m.type === 'hello') out.hello = m.job
      if (m.type === 'event') out.events.push(m.event.type)
      if (m.type === 'end') out.end = m.job
      if (m.type === 'error') { clearTimeout(timer); reject(new Error(`${String(m.code)}: ${String(m.message)}`)) }
    })
    ws.on('close', () => { clearTimeout(timer); resolve(out) })
    ws.on('error', err => { clearTimeout(timer); reject(err) })
  })
}

/** the HTTP status a websocket handshake is refused with (101 when accepted) */
async function upgradeStatus (port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers })
  return await new Promise<number>(resolve => {
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate() })
    ws.on('open', () => { resolve(101); ws.terminate() })
    ws.on('error', () => { resolve(0) })
  })
}
