/**
 * Triggers a git hook could not hand to the daemon (it was not running): one JSON line each in
 * the home, sent by the daemon when it starts. A push never waits for, nor fails on, the daemon.
 */
import { appendFile, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'

export const QUEUE_FILE = 'trigger-queue.jsonl'
/** most queued triggers kept: past this, the oldest are dropped (a hook far ahead of a stopped daemon) */
export const MAX_QUEUED = 1000

export function queuePath (home: string): string { return join(home, QUEUE_FILE) }

/** add one trigger to the queue (the hook's side) */
export async function enqueue (home: string, trigger: Record<string, unknown>): Promise<void> {
  await appendFile(queuePath(home), JSON.stringify({ ...trigger, queuedAt: Date.now() }) + '\n', { mode: 0o600 })
}

/** take every queued trigger (the daemon's side): the file is moved aside first, so a hook appending meanwhile starts a new one */
export async function takeQueued (home: string): Promise<unknown[]> {
  const taking = queuePath(home) + '.taking'
  try {
    await rename(queuePath(home), taking)
  } catch (err: any) {
    if (err?.code !== 'ENOENT') throw err
  }
  let text = ''
  try {
    text = await readFile(taking, 'utf8')
  } catch (err: any) {
    if (err?.code === 'ENOENT') return []
    throw err
  }
  const out: unknown[] = []
  for (const line of text.split('\n').slice(-MAX_QUEUED)) {
    if (line.trim() === '') continue
    try { out.push(JSON.parse(line)) } catch {}
  }
  await rm(taking, { force: true })
  return out
}
