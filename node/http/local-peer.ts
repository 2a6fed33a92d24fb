/**
 * Is a loopback client one of this machine's users, or a sandboxed job? Both connect from
 * 127.0.0.1 (a job with the network on shares the host's network namespace), so the address says
 * nothing. The kernel does: /proc/net/tcp names the inode of the client's socket, and the process
 * holding that inode is either in the daemon's own pid namespace (a person's browser, curl, the
 * CLI) or in a job's (every sandboxed job has a pid namespace of its own, see
 * node/executor/sandbox). A client whose socket cannot be traced is not treated as local.
 */
import { readdir, readFile, readlink } from 'node:fs/promises'
import type { Socket } from 'node:net'

/** at most this many processes are looked at for one connection */
const MAX_PROCS = 20_000

/** `127.0.0.1:5000` as /proc/net/tcp writes it: address bytes in host order, port in hex */
function procAddr (address: string, port: number, v6: boolean): string | undefined {
  const p = port.toString(16).toUpperCase().padStart(4, '0')
  const a = address.replace(/^::ffff:/i, '')
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a)
  if (v4 != null) {
    const bytes = v4.slice(1).map(Number).reverse().map(b => b.toString(16).toUpperCase().padStart(2, '0')).join('')
    // an IPv4 client of an IPv6 socket appears as ::ffff:a.b.c.d in tcp6
    return v6 ? `0000000000000000FFFF0000${bytes}:${p}` : `${bytes}:${p}`
  }
  if (a === '::1') return v6 ? `00000000000000000000000001000000:${p}` : undefined
  return undefined
}

/** the inode of the client end of a loopback TCP connection, from the kernel's socket table */
export async function clientSocketInode (socket: Pick<Socket, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort'>): Promise<string | undefined> {
  const { remoteAddress, remotePort, localAddress, localPort } = socket
  if (remoteAddress == null || remotePort == null || localAddress == null || localPort == null) return undefined
  for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]] as const) {
    const local = procAddr(remoteAddress, remotePort, v6)
    const remote = procAddr(localAddress, localPort, v6)
    if (local == null || remote == null) continue
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/)
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (f[1] === local && f[2] === remote && f[9] != null && f[9] !== '0') return f[9]
    }
  }
  return undefined
}

/** the pid of a process holding `socket:[inode]`, or undefined when none can be seen */
export async function holderOf (inode: string): Promise<number | undefined> {
  const target = `socket:[${inode}]`
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter(n => /^\d+$/.test(n)).slice(0, MAX_PROCS)
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])
    for (const fd of fds) {
      if (await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '') === target) return Number(pid)
    }
  }
  return undefined
}

/**
 * Whether a loopback connection comes from a process in this daemon's pid namespace (not from
 * inside a job's sandbox). Answers are cached per connection.
 */
export class LocalPeers {
  private readonly known = new WeakMap<object, Promise<boolean>>()
  private ownNs?: Promise<string | undefined>

  constructor (private readonly c: {
    inodeOf?: typeof clientSocketInode
    holderOf?: typeof holderOf
    nsOf?: (pid: number | 'self') => Promise<string | undefined>
  } = {}) {}

  async isHostProcess (socket: Socket): Promise<boolean> {
    let answer = this.known.get(socket)
    if (answer == null) {
      answer = this.check(socket).catch(() => false)
      this.known.set(socket, answer)
    }
    return await answer
  }

  private async check (socket: Socket): Promise<boolean> {
    const nsOf = this.c.nsOf ?? pidNamespace
    this.ownNs ??= nsOf('self')
    const own = await this.ownNs
    if (own == null) return false
    const inode = await (this.c.inodeOf ?? clientSocketInode)(socket)
    if (inode == null) return false
    const pid = await (this.c.holderOf ?? holderOf)(inode)
    if (pid == null) return false
    return await nsOf(pid) === own
  }
}

async function pidNamespace (pid: number | 'self'): Promise<string | undefined> {
  return await readlink(`/proc/${pid}/ns/pid`).catch(() => undefined)
}
