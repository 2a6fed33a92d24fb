import { readdir, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from './home.js'

/** small files of the home that `init` and `join` rewrite, kept byte for byte to put back */
const KEPT_FILES = ['config.json', 'mesh.cbor'] as const

/** A home as it was before `init` or `join` touched it. */
export interface HomeSnapshot {
  /** put the home back as it was: what was added is removed, what was rewritten is restored */
  restore: () => Promise<void>
}

/**
 * Remember what a home holds (its entries, and the files `init` and `join` rewrite) so that a
 * failed `init` or `join` leaves it as it was: a half-made member whose daemon never started is a
 * dead end (it "is already a member", yet nothing runs and `leave` has no daemon to ask).
 */
export async function snapshotHome (root: string): Promise<HomeSnapshot> {
  const existed = await stat(root).then(s => s.isDirectory(), () => false)
  const entries = existed ? new Set(await readdir(root)) : new Set<string>()
  const kept = new Map<string, { bytes: Buffer, mode: number }>()
  for (const name of KEPT_FILES) {
    const bytes = await readFile(join(root, name)).catch(() => undefined)
    const mode = await stat(join(root, name)).then(s => s.mode & 0o7777, () => 0o600)
    if (bytes != null) kept.set(name, { bytes, mode })
  }
  return {
    restore: async () => {
      if (!existed) {
        await rm(root, { recursive: true, force: true })
        return
      }
      for (const name of await readdir(root).catch(() => [] as string[])) {
        if (!entries.has(name)) await rm(join(root, name), { recursive: true, force: true })
      }
      for (const [name, { bytes, mode }] of kept) await writeFileAtomic(join(root, name), bytes, mode)
    }
  }
}
