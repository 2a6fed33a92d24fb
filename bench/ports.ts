import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'

/** ports handed out by this process: never twice */
const handedOut = new Set<number>()

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (for daemons that must keep their port across
 * restarts). It is picked below the kernel's ephemeral range: a port from that range, released
 * and bound again later, can meanwhile be taken by any outgoing connection (the daemons of
 * other test files or bench sections make many), and the daemon then fails to start with EADDRINUSE.
 */
export async function freePort (): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999')
  const low = Math.min(Number(range.trim().split(/\s+/)[0]) || 32768, 32768)
  let [from, to] = [Math.max(1024, low - 12_000), low]
  // parallel test workers draw from separate slices, so that two never pick the same port
  const worker = Number(process.env.VITEST_POOL_ID ?? '')
  if (Number.isSafeInteger(worker) && worker > 0 && to - from >= 8000) {
    const slice = Math.floor((to - from) / 8)
    from += ((worker - 1) % 8) * slice
    to = from + slice
  }
  const bindable = async (port: number): Promise<boolean> => await new Promise<boolean>(resolve => {
    const server = createServer()
    server.once('error', () => { resolve(false) })
    server.listen(port, '127.0.0.1', () => { server.close(() => { resolve(true) }) })
  })
  for (let i = 0; i < 200 && to - from >= 1000; i++) {
    const port = from + Math.floor(Math.random() * (to - from))
    if (handedOut.has(port)) continue
    if (await bindable(port)) {
      handedOut.add(port)
      return port
    }
  }
  // no room below the ephemeral range (or none free there): one the kernel picks
  return await new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => { resolve(port) })
    })
  })
}
