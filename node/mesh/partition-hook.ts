import { readFileSync } from 'node:fs'

/** how often the partition file is read again */
export const PARTITION_POLL_MS = 500

/**
 * A test hook for partitions without network namespaces: when the environment variable
 * CIT_TEST_PARTITION_FILE names a file holding a JSON list of peer ids, this node refuses
 * connections with those peers (both ways) and drops the ones it has. Not for production use:
 * it only narrows who may connect, never widens it.
 */
export class PartitionHook {
  private denied = new Set<string>()
  private raw = ''
  private timer?: ReturnType<typeof setInterval>

  constructor (private readonly path: string | undefined, private readonly onChange: () => void) {}

  static fromEnv (onChange: () => void): PartitionHook {
    return new PartitionHook(process.env.CIT_TEST_PARTITION_FILE, onChange)
  }

  start (): void {
    if (this.path == null || this.path === '' || this.timer != null) return
    this.read()
    this.timer = setInterval(() => { this.read() }, PARTITION_POLL_MS)
    this.timer.unref?.()
  }

  stop (): void {
    if (this.timer != null) clearInterval(this.timer)
    this.timer = undefined
  }

  denies (peerId: string): boolean {
    return this.denied.has(peerId)
  }

  private read (): void {
    let raw = '[]'
    try { raw = readFileSync(this.path!, 'utf8') } catch {}
    if (raw === this.raw) return
    this.raw = raw
    try {
      const list: unknown = JSON.parse(raw)
      this.denied = new Set(Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [])
    } catch {
      this.denied = new Set()
    }
    this.onChange()
  }
}
