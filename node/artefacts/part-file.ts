import { createHash } from 'node:crypto'
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SIDECAR_SAVE_INTERVAL_MS, VERIFY_CHUNK_BYTES } from './constants.js'
import { DownloadWriteError } from './errors.js'
import type { Logger } from '../../store/logger.js'
import type { FileHandle } from 'node:fs/promises'

/**
 * a completed range as the sidecar records it: who sent it and the sha256 of what it sent, once
 * that is known (it is taken only when a download does not verify and ranges are compared)
 */
export interface DoneRange {
  holder: string
  sha256?: string
}

/** the sidecar's JSON: which ranges of the part file hold received bytes */
interface Sidecar {
  version: 1
  hash: string
  size: number
  rangeBytes: number
  /** [range index, holder peer id, sha256 of the range when known] */
  done: Array<[number, string, string] | [number, string]>
}

/**
 * An unfinished download: `<dir>/<hash>.part`, the blob's full size, written at range offsets as
 * bytes arrive, and `<dir>/<hash>.json`, the ranges completed so far. The sidecar is written only
 * after the part file's data is synced, so it never claims bytes that are not on disk; a
 * download killed between saves redoes at most the ranges completed since the last one.
 */
export class PartFile {
  readonly done: Map<number, DoneRange>
  private lastSave = 0
  private dirty = false

  private constructor (
    readonly path: string,
    private readonly sidecarPath: string,
    private readonly fh: FileHandle,
    private readonly meta: Omit<Sidecar, 'done'>,
    done: Map<number, DoneRange>
  ) {
    this.done = done
  }

  /**
   * Open the partial download of `hash`, resuming it if its sidecar matches (same size and range
   * size, a part file of the full size); otherwise start it afresh.
   */
  static async open (dir: string, hash: string, size: number, rangeBytes: number, logger: Logger): Promise<PartFile> {
    const path = join(dir, `${hash}.part`)
    const sidecarPath = join(dir, `${hash}.json`)
    const meta = { version: 1 as const, hash, size, rangeBytes }
    try {
      await mkdir(dir, { recursive: true })
      const done = await loadSidecar(sidecarPath, meta, logger)
      const fh = await openForUpdate(path)
      const st = await fh.stat()
      if (done.size > 0 && st.size !== size) {
        logger.info('partial download does not match its record; starting afresh', { hash, partBytes: st.size, size })
        done.clear()
      }
      if (st.size !== size) await fh.truncate(size)
      return new PartFile(path, sidecarPath, fh, meta, done)
    } catch (err) {
      throw new DownloadWriteError(`could not open the partial download of ${hash}: ${String((err as Error)?.message ?? err)}`, err)
    }
  }

  /** bytes of the completed ranges */
  get bytesDone (): number {
    let n = 0
    for (const index of this.done.keys()) n += this.rangeEnd(index) - index * this.meta.rangeBytes
    return n
  }

  /** write received bytes at `offset` */
  async write (offset: number, bytes: Uint8Array): Promise<void> {
    try {
      for (let off = 0; off < bytes.byteLength;) {
        const { bytesWritten } = await this.fh.write(bytes, off, bytes.byteLength - off, offset + off)
        if (bytesWritten <= 0) throw new DownloadWriteError('could not write the partial download: a write made no progress', undefined)
        off += bytesWritten
      }
    } catch (err) {
      if (err instanceof DownloadWriteError) throw err
      throw new DownloadWriteError(`could not write the partial download: ${String((err as Error)?.message ?? err)}`, err)
    }
  }

  /** write consecutive chunks at `offset` in one call */
  async writev (offset: number, chunks: Uint8Array[]): Promise<void> {
    if (chunks.length === 1) return await this.write(offset, chunks[0])
    let total = 0
    for (const c of chunks) total += c.byteLength
    try {
      const { bytesWritten } = await this.fh.writev(chunks, offset)
      if (bytesWritten === total) return
    } catch (err) {
      throw new DownloadWriteError(`could not write the partial download: ${String((err as Error)?.message ?? err)}`, err)
    }
    // a short write: the rest one chunk at a time (write() retries until done)
    let at = offset
    for (const c of chunks) {
      await this.write(at, c)
      at += c.byteLength
    }
  }

  markDone (index: number, range: DoneRange): void {
    this.done.set(index, range)
    this.dirty = true
  }

  unmark (index: number): void {
    if (this.done.delete(index)) this.dirty = true
  }

  /** record progress: at most every SIDECAR_SAVE_INTERVAL_MS unless `force` */
  async save (force = false): Promise<void> {
    if (!this.dirty || (!force && Date.now() - this.lastSave < SIDECAR_SAVE_INTERVAL_MS)) return
    this.dirty = false
    this.lastSave = Date.now()
    const sidecar: Sidecar = { ...this.meta, done: [...this.done].map(([i, r]) => r.sha256 === undefined ? [i, r.holder] : [i, r.holder, r.sha256]) }
    const tmp = `${this.sidecarPath}.tmp`
    try {
      // the data first: the record must never claim bytes that a crash could lose
      await this.fh.datasync()
      await writeFile(tmp, JSON.stringify(sidecar))
      await rename(tmp, this.sidecarPath)
    } catch (err) {
      this.dirty = true
      throw new DownloadWriteError(`could not record download progress: ${String((err as Error)?.message ?? err)}`, err)
    }
  }

  /** read back bytes at `position` (for the in-order hash); the count read */
  async read (buf: Uint8Array, position: number, length: number): Promise<number> {
    return (await this.fh.read(buf, 0, length, position)).bytesRead
  }

  /** sha256 of the whole part file, streamed */
  async hash (signal?: AbortSignal): Promise<string> {
    return await this.hashRange(0, this.meta.size, signal)
  }

  /** sha256 of bytes `start`..`end` (exclusive) of the part file, streamed */
  async hashRange (start: number, end: number, signal?: AbortSignal): Promise<string> {
    const sha = createHash('sha256')
    const buf = Buffer.allocUnsafe(Math.min(VERIFY_CHUNK_BYTES, Math.max(1, end - start)))
    for (let pos = start; pos < end;) {
      signal?.throwIfAborted()
      const { bytesRead } = await this.fh.read(buf, 0, Math.min(buf.byteLength, end - pos), pos)
      if (bytesRead === 0) throw new DownloadWriteError('the partial download shrank while it was verified', undefined)
      sha.update(buf.subarray(0, bytesRead))
      pos += bytesRead
    }
    return sha.digest('hex')
  }

  async close (): Promise<void> {
    await this.fh.close().catch(() => {})
  }

  /** delete the part file and its record (after the blob is stored, or to start over) */
  async remove (): Promise<void> {
    await this.close()
    await rm(this.path, { force: true })
    await rm(this.sidecarPath, { force: true })
  }

  private rangeEnd (index: number): number {
    return Math.min(this.meta.size, (index + 1) * this.meta.rangeBytes)
  }
}

/** open read-write without truncating, creating the file if it is missing */
async function openForUpdate (path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+')
  } catch (err: any) {
    if (err?.code !== 'ENOENT') throw err
    return await open(path, 'w+')
  }
}

/** the completed ranges of a matching sidecar; an absent, unreadable or foreign one resumes nothing */
async function loadSidecar (path: string, meta: Omit<Sidecar, 'done'>, logger: Logger): Promise<Map<number, DoneRange>> {
  const done = new Map<number, DoneRange>()
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(path, 'utf8'))
  } catch (err: any) {
    if (err?.code !== 'ENOENT') logger.warn('unreadable partial download record; starting afresh', { path, err: String(err) })
    return done
  }
  const s = raw as Partial<Sidecar> | null
  if (s?.version !== 1 || s.hash !== meta.hash || s.size !== meta.size || s.rangeBytes !== meta.rangeBytes || !Array.isArray(s.done)) {
    logger.info('partial download record is for another size or range size; starting afresh', { path })
    return done
  }
  const ranges = Math.ceil(meta.size / meta.rangeBytes)
  for (const entry of s.done) {
    if (!Array.isArray(entry) || (entry.length !== 2 && entry.length !== 3)) continue
    const [index, holder, sha256] = entry as unknown[]
    if (!Number.isSafeInteger(index) || (index as number) < 0 || (index as number) >= ranges) continue
    if (typeof holder !== 'string') continue
    if (entry.length === 2) {
      done.set(index as number, { holder })
      continue
    }
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) continue
    done.set(index as number, { holder, sha256 })
  }
  return done
}
