import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, waitFor } from '../helpers/cli.js'
import { isAlive, readLivePid } from '../../node/pidfile.js'
import { bearer, http, makeHttpMesh, oneStep } from './helpers.js'
import type { BrowserContext, Page } from 'playwright-core'
import type { HttpMesh, MeshNode } from './helpers.js'

/** Debian's chromium, driven by playwright-core (which downloads no browser of its own then) */
const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
/** screenshots for docs/web.md */
const IMAGES = join(ROOT, 'docs', 'images')

describe('the pages in a real browser', () => {
  let mesh: HttpMesh
  let a: MeshNode, b: MeshNode
  let pb: number
  let base: string
  let submit: string
  let profile: string
  let browser: BrowserContext
  let page: Page
  const foreign: string[] = []
  const api = async (path: string, body?: unknown): Promise<any> => (await http(pb, body === undefined ? 'GET' : 'POST', path, { body, headers: bearer(submit) })).json()
  const waitState = async (id: string, states: string[]): Promise<any> => await waitFor(async () => {
    const j = await api(`/api/v1/jobs/${id}`)
    return states.includes(j.state) ? j : undefined
  }, { timeoutMs: 60_000, what: `job ${id} to be ${states.join(' or ')}` })
  const shot = async (name: string): Promise<void> => { await page.screenshot({ path: join(IMAGES, `${name}.png`), fullPage: true }) }

  beforeAll(async () => {
    mesh = await makeHttpMesh(2)
    ;[a, b] = mesh.nodes
    pb = mesh.ports[1]
    base = `http://127.0.0.1:${pb}`
    submit = (await mesh.run(b, ['token', 'create', '--role', 'submit', '--label', 'browser test'])).token
    await waitFor(async () => (await api('/api/v1/peers')).length === 2, { timeoutMs: 30_000, what: 'both members' })
    await mkdir(IMAGES, { recursive: true })
    profile = await mkdtemp(join(tmpdir(), 'cit-chromium-'))
    browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1200, height: 900 }, acceptDownloads: true })
    page = browser.pages()[0] ?? await browser.newPage()
    // nothing a page loads may come from outside the daemon
    browser.on('request', r => { if (!r.url().startsWith(base) && !r.url().startsWith('ws://127.0.0.1') && !r.url().startsWith('data:')) foreign.push(r.url()) })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await mesh?.close()
    if (profile != null) await rm(profile, { recursive: true, force: true })
  })

  it('the mesh page lists both nodes and updates itself; it fits a phone', async () => {
    await api('/api/v1/jobs', { spec: oneStep('hello-mesh', 'echo hello from the mesh', { requires: { labels: ['alpha'] } }) })
    await page.goto(`${base}/`)
    for (const n of [a, b]) await page.locator(`tr[data-peer="${n.peerId}"]`).waitFor()
    // a node with Nix installed adds the nix label by itself
    const labels = await page.locator(`tr[data-peer="${a.peerId}"] .label`).allTextContents()
    expect(labels.filter(l => l !== 'nix')).toEqual(['alpha'])
    await page.waitForFunction(() => document.body.dataset.refreshed != null, undefined, { timeout: 15_000 })
    await page.locator('#latest tr[data-job]').first().waitFor()
    await shot('web-mesh')
    await page.setViewportSize({ width: 390, height: 844 })
    const width = await page.evaluate(() => document.documentElement.scrollWidth)
    expect(width).toBeLessThanOrEqual(390)
    await shot('web-mesh-phone')
    await page.setViewportSize({ width: 1200, height: 900 })
  }, 60_000)

  it('the jobs page lists a job, with filters', async () => {
    const job = await api('/api/v1/jobs', { spec: oneStep('listed', 'echo listed', { requires: { labels: ['beta'] } }) })
    await waitState(job.id, ['succeeded'])
    await page.goto(`${base}/jobs`)
    await page.locator(`tr[data-job="${job.id}"]`).waitFor()
    expect(await page.locator(`tr[data-job="${job.id}"]`).getAttribute('data-state')).toBe('succeeded')
    await shot('web-jobs')
    await page.goto(`${base}/jobs?name=listed`)
    expect(await page.locator('#jobs tr[data-job]').count()).toBe(1)
  }, 60_000)

  it('a running job\'s page shows its output live, then its recording, steps and artefacts; the download matches its sha256', async () => {
    const job = await api('/api/v1/jobs', {
      spec: {
        ...oneStep('live-build', 'for i in $(seq 1 16); do echo "tick-$i"; sleep 0.3; done; head -c 100000 /dev/urandom > blob.bin; echo done', { requires: { labels: ['alpha'] }, artefacts: ['blob.bin'] }),
        stages: [
          { title: 'prepare', steps: [{ title: 'hello', command: 'echo preparing' }] },
          { title: 'build', steps: [{ title: 'tick', command: 'for i in $(seq 1 16); do echo "tick-$i"; sleep 0.3; done; head -c 100000 /dev/urandom > blob.bin; echo done' }, { title: 'optional', command: 'exit 3', ignoreExitCode: true }] }
        ]
      }
    })
    await waitState(job.id, ['running'])
    await page.goto(`${base}/jobs/${job.id}`)
    const rows = page.locator('#terminal .xterm-rows')
    await rows.waitFor()
    // output produced on a appears in the page served by b while the job runs
    await waitFor(async () => /tick-[2-9]/.test(await rows.textContent() ?? ''), { timeoutMs: 20_000, what: 'ticks on the terminal' })
    const early = await rows.textContent() ?? ''
    await shot('web-job-live')
    await waitFor(async () => /tick-1[2-6]/.test(await rows.textContent().catch(() => '') ?? ''), { timeoutMs: 20_000, what: 'later ticks' })
    expect(early).not.toMatch(/tick-16/)
    // the page reloads itself when the job ends: the recording plays in asciinema-player
    await page.locator('#player[data-ready="1"]').waitFor({ timeout: 30_000 })
    const duration = await page.evaluate(async () => await (window as any).citPlayer.getDuration())
    expect(duration).toBeGreaterThan(1)
    await page.locator('#player .ap-player').waitFor()
    const steps = page.locator('#steps tbody tr')
    expect(await steps.count()).toBeGreaterThanOrEqual(3)
    expect(await page.locator('#steps tr[data-exit="3"]').count()).toBe(1)
    expect(await page.locator('#log-text').textContent()).toContain('tick-16')
    await page.evaluate(async () => { await (window as any).citPlayer.seek(100) })
    await shot('web-job-finished')

    const link = page.locator('a.artefact')
    const want = await link.getAttribute('data-sha256')
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()])
    const bytes = await readFile(await download.path())
    expect(bytes.byteLength).toBe(100000)
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(want)
    expect((await api(`/api/v1/jobs/${job.id}`)).artefacts[0].sha256).toBe(want)
    // readable without JavaScript: the log is in the page's HTML
    const html = (await http(pb, 'GET', `/jobs/${job.id}`)).text
    expect(html).toContain('tick-16')
    expect(foreign).toEqual([])
  }, 120_000)

  it('re-run with a token starts a new build', async () => {
    const first = (await api('/api/v1/jobs?name=listed')).jobs[0]
    await page.goto(`${base}/jobs/${first.id}`)
    expect(await page.locator('#actions').isHidden()).toBe(true)
    await page.locator('#token-box summary').click()
    await page.locator('#token-input').fill(submit)
    await page.locator('#token-form button[type=submit]').click()
    await page.locator('#actions').waitFor({ state: 'visible' })
    await page.locator('#token-status').filter({ hasText: 'submit' }).waitFor()
    await shot('web-job-actions')
    await Promise.all([page.waitForURL(url => url.pathname.startsWith('/jobs/') && !url.pathname.endsWith(first.id)), page.locator('#rerun').click()])
    const id = new URL(page.url()).pathname.split('/').pop()!
    expect(id).not.toBe(first.id)
    const again = await waitState(id, ['succeeded'])
    expect(again.name).toBe('listed')
    expect((await api('/api/v1/jobs?name=listed')).jobs.map((j: any) => j.id)).toEqual([id, first.id])
    await page.goto(`${base}/names/listed`)
    await page.locator('#durations rect').first().waitFor()
    expect(await page.locator('#durations rect').count()).toBe(2)
    expect(await page.locator('#streak strong').textContent()).toBe('2')
    await shot('web-name')
  }, 60_000)

  it('a job whose node is gone: its page says so instead of hanging', async () => {
    const held = await api('/api/v1/jobs', { spec: oneStep('held-by-a', 'echo only-a-has-this', { requires: { labels: ['alpha'] } }) })
    await waitState(held.id, ['succeeded'])
    const stuck = await api('/api/v1/jobs', { spec: oneStep('stuck-on-a', 'echo started; sleep 300', { requires: { labels: ['alpha'] } }) })
    await waitState(stuck.id, ['running'])
    const pid = await readLivePid(join(a.home, 'daemon.pid'))
    process.kill(pid!, 'SIGKILL')
    await waitFor(() => !isAlive(pid!), { what: 'a to die' })
    await waitFor(async () => (await api('/api/v1/peers')).find((p: any) => p.peerId === a.peerId)?.state === 'unreachable', { timeoutMs: 40_000, what: 'b to see a unreachable' })
    const t0 = Date.now()
    await page.goto(`${base}/jobs/${stuck.id}`)
    await page.locator('#node-gone').waitFor()
    expect(await page.locator('#node-gone').textContent()).toContain(a.peerId)
    await page.goto(`${base}/jobs/${held.id}`)
    await page.locator('#problem').waitFor()
    expect(await page.locator('#problem').textContent()).toContain('could not be reached')
    expect(Date.now() - t0).toBeLessThan(30_000)
    await shot('web-node-gone')
  }, 120_000)
})
