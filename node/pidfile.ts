import { open, readFile, unlink } from 'node:fs/promises'
import { DaemonRunningError } from './errors.js'

/** whether a process with this pid exists */
export function isAlive (pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err?.code === 'EPERM'
  }
}

/** the pid of the daemon that holds this home, if one is alive */
export async function readLivePid (path: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path, 'utf8')).trim())
    return isAlive(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * One daemon per home: the pid file is created exclusively; a stale one (its process is gone)
 * is replaced. Returns a release function.
 */
export async function acquirePidfile (path: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600)
      await fh.writeFile(String(process.pid))
      await fh.close()
      return async () => {
        const held = await readFile(path, 'utf8').catch(() => '')
        if (held.trim() === String(process.pid)) await unlink(path).catch(() => {})
      }
    } catch (err: any) {
      if (err?.code !== 'EEXIST') throw err
      const pid = await readLivePid(path)
      if (pid != null && pid !== process.pid) throw new DaemonRunningError(pid)
      await unlink(path).catch(() => {})
    }
  }
  throw new DaemonRunningError(-1)
}
