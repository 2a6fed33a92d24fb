/**
 * `npm run nat-trial` (root only; needs iproute2 and iptables): do two members behind separate
 * NATs reach each other through a relay, and does DCUtR then open a direct connection between them?
 * net.sh builds five network namespaces (an "internet" with the relay, two home routers that
 * masquerade, a member behind each); each case starts one peer in each of three of them (peer.ts):
 * - `nat`: both routers refuse what nobody inside asked for, and A knows only its private address;
 * - `announced`: the same, but A announces its router's public address (what DCUtR needs to try);
 * - `forwarded`: A's router forwards A's port, and A announces that address.
 * It prints every case's result as JSON, writes them to bench/results/nat.json, stops every peer by
 * its pid and removes the namespaces. docs/operations.md, *Members behind NAT*, says what it found.
 */
import { spawn } from 'node:child_process'
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { execFileSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import type { TrialResult } from './peer.js'

const HERE = import.meta.dirname
const NET = resolve(HERE, '../../../bench/nat/net.sh')
const PEER = join(HERE, 'peer.js')
const OUT = resolve(HERE, '../../../bench/results/nat.json')
/** the whole trial ends by then, whatever happens */
const TRIAL_TIMEOUT_MS = 90_000

/** a peer in a namespace, with DCUtR's debug log to `log` */
function inNamespace (ns: string, args: string[], log: string): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBUG: 'libp2p:dcutr*' } })
  child.stderr?.on('data', (d: Buffer) => { appendFileSync(log, d) })
  return child
}

/** DCUtR's messages, once each, without timestamps, peer ids and stack lines */
function dcutrSays (log: string): string[] {
  const lines = existsSync(log) ? readFileSync(log, 'utf8').split('\n') : []
  const said = lines.filter(l => l.includes('libp2p:dcutr')).map(l => l.replace(/^\S+\s+/, '').replace(/12D3Koo\w+/g, '<peer>'))
  return [...new Set(said)]
}

/** A's router's public address with A's port */
const A_PUBLIC = '/ip4/11.77.0.2/tcp/4002'
const CASES = [
  { name: 'nat', net: [], a: [] },
  { name: 'announced', net: [], a: ['--announce', A_PUBLIC] },
  { name: 'forwarded', net: ['forward'], a: ['--announce', A_PUBLIC] }
] as const

async function main (): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the NAT trial makes network namespaces: run it as root')
  const results: Record<string, TrialResult> = {}
  for (const c of CASES) results[c.name] = await trial(c.net, c.a)
  const report = { at: new Date().toISOString(), topology: 'a relay on a public segment; A and B each behind its own masquerading Linux NAT', cases: results }
  writeFileSync(OUT, JSON.stringify(report, null, 2) + '\n')
  process.stdout.write(JSON.stringify(report, null, 2) + '\n')
}

async function trial (net: readonly string[], aArgs: readonly string[]): Promise<TrialResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cit-nat-'))
  const peers: ChildProcess[] = []
  try {
    execFileSync('bash', [NET, ...net], { stdio: 'inherit' })
    const log = join(dir, 'dcutr.log')
    peers.push(inNamespace('cit-inet', ['relay', dir], log))
    await new Promise(r => setTimeout(r, 1500))
    peers.push(inNamespace('cit-hostA', ['A', dir, ...aArgs], log))
    const b = inNamespace('cit-hostB', ['B', dir], log)
    peers.push(b)
    let out = ''
    b.stdout?.on('data', (d: Buffer) => { out += d.toString() })
    return await new Promise<TrialResult>((resolveResult, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no result from B within ${TRIAL_TIMEOUT_MS} ms`)) }, TRIAL_TIMEOUT_MS)
      b.on('exit', () => {
        clearTimeout(timer)
        try {
          const result = JSON.parse(out.trim().split('\n').pop() ?? '') as TrialResult
          resolveResult({ ...result, dcutr: dcutrSays(log) })
        } catch {
          reject(new Error(`B printed no result: ${out}`))
        }
      })
    })
  } finally {
    for (const p of peers) if (p.exitCode == null && p.pid != null) process.kill(p.pid, 'SIGKILL')
    execFileSync('bash', [NET, 'down'], { stdio: 'inherit' })
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
