/**
 * A daemon that is not root sandboxes its jobs in a user namespace. The tests run as root, so
 * this one runs the executor (built, from dist/) as `nobody` through setpriv: the sandbox probe,
 * then a job that looks for the home, writes its workspace and tries the network, and a step's
 * credentials, started by the step launcher and by the shell wrapper.
 */
import { execFile } from 'node:child_process'
import { chown, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AddressInfo } from 'node:net'

const DIST = resolve(import.meta.dirname, '../../../../dist')
const NOBODY = 65534

/** runs as nobody: a Sandbox and an Executor in `home`, one job; prints what happened as JSON */
const SCRIPT = `
const [dist, home, port] = process.argv.slice(1)
const { Executor } = await import(dist + '/node/executor/index.js')
const { Sandbox } = await import(dist + '/node/executor/sandbox/index.js')
const { FsBlobStore } = await import(dist + '/store/blobs/fs-blob-store.js')
const blobs = new FsBlobStore({}, { dir: home + '/blobs' })
await blobs.start()
const sandbox = new Sandbox({}, { home, scratchDir: home + '/workspaces/.tmp' })
await sandbox.start()
const executor = new Executor({ blobs, sandbox }, { workspacesDir: home + '/workspaces' })
let out = ''
const spec = (name, network, command) => ({
  name, priority: 0, timeoutMs: 20000, requires: { labels: [], cores: 1, memoryBytes: 0 }, params: {},
  supersede: 'waiting', cache: false, artefacts: [], ...(network ? { network } : {}),
  stages: [{ title: 's', steps: [{ title: 't', command, ignoreExitCode: false }] }]
})
const probe = 'echo "uid=$(id -u) user=$USER home=$HOME"; test -e ' + home + ' && echo HOME-VISIBLE; echo made > kept.txt; ' +
  'exec 3<>/dev/tcp/127.0.0.1/' + port + ' && echo CONNECTED || echo REFUSED'
const a = await executor.run({ jobId: 'a', spec: spec('ns', 'none', probe), params: {}, onOutput: d => { out += Buffer.from(d).toString() } })
const b = await executor.run({ jobId: 'b', spec: spec('ns', undefined, 'cat kept.txt; exec 3<>/dev/tcp/127.0.0.1/' + port + ' && echo CONNECTED'), params: {}, onOutput: d => { out += Buffer.from(d).toString() } })
const creds = "grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status; echo cwd=$(pwd -P)"
let launched = ''
const c = await executor.run({ jobId: 'c', spec: spec('ns', 'none', creds), params: {}, onOutput: d => { launched += Buffer.from(d).toString() } })
// the shell wrapper's path (nsenter, setpriv), where the launcher was not built
const wrapped = new Executor({ blobs, sandbox }, { workspacesDir: home + '/workspaces', stepLauncher: false })
let viaWrapper = ''
const d = await wrapped.run({ jobId: 'd', spec: spec('ns', 'none', creds), params: {}, onOutput: d => { viaWrapper += Buffer.from(d).toString() } })
const { findStepLauncher } = await import(dist + '/node/executor/step-launcher.js')
await blobs.stop()
console.log(JSON.stringify({ isolation: sandbox.isolation, detail: sandbox.detail, a: a.outcome, b: b.outcome, c: c.outcome, d: d.outcome, out, launched, viaWrapper, launcher: findStepLauncher() ?? null }))
`

describe('a daemon that is not root: jobs in a user namespace', () => {
  let home: string
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'cit-userns-'))
    await chown(home, NOBODY, NOBODY)
  })
  afterAll(async () => { await rm(home, { recursive: true, force: true }) })

  it('sandboxes the job: another uid inside, the home hidden, the workspace kept, network none honoured', async () => {
    let connections = 0
    const server = createServer(socket => { connections++; socket.on('error', () => {}); socket.end() })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const port = (server.address() as AddressInfo).port
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, '--input-type=module', '-e', SCRIPT, DIST, home, String(port)],
          { timeout: 60_000, env: { PATH: process.env.PATH, HOME: '/nonexistent' } },
          (err, out, errOut) => { if (err != null) reject(new Error(`${err.message}\n${errOut}`)); else resolve(out) })
      })
      const r = JSON.parse(stdout.trim().split('\n').at(-1)!)
      expect(r.isolation, r.detail).toBe('sandbox')
      expect(r.detail).toContain('user namespace')
      expect(r.a).toBe('succeeded')
      expect(r.b).toBe('succeeded')
      expect(r.out).toMatch(/uid=1000 user=cit-build home=\/workspace/)
      expect(r.out).not.toContain('HOME-VISIBLE')
      expect(r.out).toContain('REFUSED')
      expect(r.out).toContain('made')
      // only the second job, without network: none, got through
      expect(r.out).toMatch(/made\r\nCONNECTED/)
      expect(connections).toBe(1)
      // started by the step launcher: uid 1000 inside, no capability left, the bounding set empty too
      expect(r.launcher).toMatch(/cit-step$/)
      expect(r.c).toBe('succeeded')
      const field = (text: string, name: string): string => new RegExp(`^${name}:[ \\t]*(.*?)[ \\t]*$`, 'm').exec(text.replaceAll('\r', ''))?.[1] ?? `${name} missing`
      expect(field(r.launched, 'Uid').split(/\s+/)).toEqual(['1000', '1000', '1000', '1000'])
      expect(field(r.launched, 'Gid').split(/\s+/)).toEqual(['1000', '1000', '1000', '1000'])
      for (const caps of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(field(r.launched, caps), caps).toBe('0000000000000000')
      expect(field(r.launched, 'NoNewPrivs')).toBe('1')
      expect(r.launched).toContain('cwd=/workspace')
      // through the wrapper: the same account and no capability it could use (setpriv, exec'd with
      // no capability left, cannot empty the bounding set in a user namespace)
      expect(r.d).toBe('succeeded')
      expect(field(r.viaWrapper, 'Uid').split(/\s+/)).toEqual(['1000', '1000', '1000', '1000'])
      for (const caps of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']) expect(field(r.viaWrapper, caps), caps).toBe('0000000000000000')
      expect(field(r.viaWrapper, 'NoNewPrivs')).toBe('1')
      expect(r.viaWrapper).toContain('cwd=/workspace')
    } finally {
      server.close()
    }
  })
})
