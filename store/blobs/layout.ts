import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { BLOBS_DIR_NAME, FANOUT_HEX_DIGITS, QUARANTINE_DIR_NAME, TMP_DIR_NAME, TMP_NAME_BYTES } from './constants.js'
import type { Logger } from '../logger.js'

/**
 * Where things live under a blob store's directory:
 * `sha256/<first 2 hex>/<hash>` for blobs, `tmp/` for writes in progress, `quarantine/` for corrupt blobs.
 * Paths are only ever built from hashes that `parseHash` accepted, so no name can climb out of the directory.
 */
export class BlobLayout {
  readonly blobsDir: string
  readonly tmpDir: string
  readonly quarantineDir: string

  constructor (readonly dir: string) {
    this.blobsDir = join(dir, BLOBS_DIR_NAME)
    this.tmpDir = join(dir, TMP_DIR_NAME)
    this.quarantineDir = join(dir, QUARANTINE_DIR_NAME)
  }

  fanoutDir (hash: string): string {
    return join(this.blobsDir, hash.slice(0, FANOUT_HEX_DIGITS))
  }

  blobPath (hash: string): string {
    return join(this.fanoutDir(hash), hash)
  }

  /** a fresh, unguessable temp file name (opened with O_EXCL, so a clash fails rather than shares) */
  tmpPath (): string {
    return join(this.tmpDir, randomBytes(TMP_NAME_BYTES).toString('hex'))
  }

  /** create the directories and delete whatever an earlier process left half-written in tmp/ */
  async prepare (): Promise<number> {
    await mkdir(this.blobsDir, { recursive: true })
    await mkdir(this.tmpDir, { recursive: true })
    await mkdir(this.quarantineDir, { recursive: true })
    const leftovers = await readdir(this.tmpDir)
    for (const name of leftovers) await rm(join(this.tmpDir, name), { force: true, recursive: true })
    return leftovers.length
  }

  /**
   * Move a corrupt blob out of the way so it is never served again. `ino` is the inode that was read: if the name
   * now points elsewhere (a put replaced it meanwhile) the new file is left alone.
   */
  async quarantine (hash: string, ino: number | undefined, logger: Logger, why: string): Promise<void> {
    const path = this.blobPath(hash)
    if (ino != null) {
      const now = await stat(path).catch(() => undefined)
      if (now?.ino !== ino) return
    }
    const dest = join(this.quarantineDir, `${hash}.${Date.now()}.${randomBytes(4).toString('hex')}`)
    try {
      await mkdir(this.quarantineDir, { recursive: true })
      await rename(path, dest)
      logger.warn('blob quarantined', { hash, why, path: dest })
    } catch (err: any) {
      if (err?.code === 'ENOENT') return
      // keeping a corrupt blob for inspection is nice; not serving it is what matters
      logger.error('could not quarantine blob, deleting it', { hash, why, err: String(err) })
      await unlink(path).catch((e: any) => {
        if (e?.code !== 'ENOENT') logger.error('could not delete corrupt blob', { hash, err: String(e) })
      })
    }
  }
}

/** flush a directory's entries (a rename is only durable once its directory is) */
export async function fsyncDir (path: string): Promise<void> {
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
