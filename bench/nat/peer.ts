/**
 * One peer of the NAT trial (see trial.ts), run inside a network namespace: `relay DIR`, `A DIR`
 * or `B DIR`, and for A optionally `--announce ADDR`, an address it announces besides its own
 * (its router's public address, as a router with a forwarded port or UPnP would give it). The peers use the transport, encryption and muxer the mesh uses (TCP, Noise, yamux,
 * identify) plus libp2p's circuit relay v2 and DCUtR. They meet through files in DIR: the relay
 * writes its address, A its relayed address once its reservation is granted; B dials that and
 * prints one JSON line saying whether the relayed connection came up and whether DCUtR upgraded it
 * to a direct one.
 */
import '../../node/polyfill.js'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { isPrivate } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { pollUntil } from '../procs.js'
import type { Libp2pOptions } from 'libp2p'

export const RELAY_LISTEN = '/ip4/11.77.0.1/tcp/4001'
/** how long B waits for DCUtR to open a direct connection after the relayed one */
export const UPGRADE_WAIT_MS = 20_000
const RESERVATION_WAIT_MS = 15_000
/** a peer that is not told otherwise stops after this long */
const LIFETIME_MS = 60_000

/** what B prints */
export interface TrialResult {
  relayed: boolean
  relayedMs?: number
  direct: boolean
  directAddr?: string
  /** A's own addresses as it announced them (what DCUtR had to try) */
  announced: string[]
  /** B dialling A's public address itself, where A announced one (not DCUtR: what any member would do) */
  publicDial?: { ok: boolean, ms: number, error?: string }
  /** what DCUtR said at either end (its debug log, peer ids left out) */
  dcutr?: string[]
  error?: string
}

/** `check`'s first value within `ms`, or undefined if there was none by then */
async function within<T> (check: () => T | undefined | false, ms: number, what: string): Promise<T | undefined> {
  return await pollUntil(check, { timeoutMs: ms, intervalMs: 100, what }).catch(() => undefined)
}

const base: Libp2pOptions = {
  transports: [tcp(), circuitRelayTransport()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  // the private ranges of the trial are what it is about
  connectionGater: { denyDialMultiaddr: () => false }
}

async function relay (dir: string): Promise<void> {
  const node = await createLibp2p({ ...base, addresses: { listen: [RELAY_LISTEN] }, services: { identify: identify(), relay: circuitRelayServer() } })
  // libp2p announces a public address only once something confirmed it is reachable: the relay's is known
  writeFileSync(join(dir, 'relay.addr'), `${RELAY_LISTEN}/p2p/${node.peerId.toString()}`)
  await sleep(LIFETIME_MS)
  await node.stop()
}

async function member (role: 'A' | 'B', dir: string, announce?: string): Promise<void> {
  const node = await createLibp2p({
    ...base,
    addresses: { listen: ['/ip4/0.0.0.0/tcp/4002', '/p2p-circuit'], appendAnnounce: announce != null ? [announce] : [] },
    services: { identify: identify(), dcutr: dcutr() }
  })
  await node.dial(multiaddr(readFileSync(join(dir, 'relay.addr'), 'utf8')))
  if (role === 'A') {
    const circuit = await within(() => node.getMultiaddrs().find(a => a.toString().includes('/p2p-circuit')), RESERVATION_WAIT_MS, 'a reservation at the relay')
    if (circuit != null) {
      writeFileSync(join(dir, 'A.announced'), JSON.stringify(node.getMultiaddrs().map(String)))
      writeFileSync(join(dir, 'A.addr'), circuit.toString())
    }
    await sleep(LIFETIME_MS)
  } else {
    const result: TrialResult = { relayed: false, direct: false, announced: [] }
    try {
      const addr = await within(() => existsSync(join(dir, 'A.addr')) && readFileSync(join(dir, 'A.addr'), 'utf8'), RESERVATION_WAIT_MS + 5000, "A's relayed address")
      if (addr === undefined) throw new Error('A got no reservation at the relay')
      result.announced = JSON.parse(readFileSync(join(dir, 'A.announced'), 'utf8'))
      const started = Date.now()
      const conn = await node.dial(multiaddr(addr))
      result.relayed = true
      result.relayedMs = Date.now() - started
      const direct = await within(() => node.getConnections(conn.remotePeer).find(c => !c.remoteAddr.toString().includes('/p2p-circuit')), UPGRADE_WAIT_MS, 'a direct connection')
      result.direct = direct != null
      result.directAddr = direct?.remoteAddr.toString()
      const pub = result.announced.map(a => multiaddr(a)).find(a => !isPrivate(a) && !a.toString().includes('/p2p-circuit'))
      if (pub != null && direct == null) {
        const t = Date.now()
        try {
          await node.dial(pub, { force: true, signal: AbortSignal.timeout(10_000) })
          result.publicDial = { ok: true, ms: Date.now() - t }
        } catch (err) {
          result.publicDial = { ok: false, ms: Date.now() - t, error: String((err as Error)?.message ?? err) }
        }
      }
    } catch (err) {
      result.error = String((err as Error)?.message ?? err)
    }
    process.stdout.write(JSON.stringify(result) + '\n')
  }
  await node.stop()
}

const [role, dir, flag, announce] = process.argv.slice(2)
if (role === 'relay') await relay(dir)
else if (role === 'A' || role === 'B') await member(role, dir, flag === '--announce' ? announce : undefined)
else throw new Error(`usage: peer.js relay|A|B DIR [--announce ADDR] (got ${role})`)
process.exit(0)
