/**
 * One run per workspace at a time, within this process: runs of the same job name queue in
 * arrival order. The lock is in memory only: two daemons given the same workspaces directory
 * are not kept apart (each daemon has its own home, so this does not happen by default).
 */

export class WorkspaceLocks {
  private readonly tails = new Map<string, Promise<void>>()

  /** whether a run holds or waits for the workspace `name` */
  isBusy (name: string): boolean {
    return this.tails.has(name)
  }

  /**
   * Wait for the workspace `name`; resolves to the release function. If `signal` aborts while
   * waiting, rejects with the abort reason and gives up the place in the queue.
   */
  async acquire (name: string, signal?: AbortSignal): Promise<() => void> {
    const previous = this.tails.get(name) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>(resolve => { release = resolve })
    const tail = previous.then(async () => await mine)
    this.tails.set(name, tail)
    const done = (): void => {
      release()
      // only the last in the queue may clear the entry, or a later waiter would lose its place
      void tail.then(() => { if (this.tails.get(name) === tail) this.tails.delete(name) })
    }
    if (signal == null) {
      await previous
      return done
    }
    try {
      signal.throwIfAborted()
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => { reject(signal.reason) }
        signal.addEventListener('abort', onAbort, { once: true })
        void previous.then(() => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        })
      })
    } catch (err) {
      done()
      throw err
    }
    return done
  }
}
