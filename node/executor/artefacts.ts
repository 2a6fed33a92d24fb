/**
 * Collecting a job's artefacts: files of the workspace matched by the job's globs, stored in the
 * blob store by hash.
 *
 * The workspace is walked with lstat semantics and symlinks are never followed, so a match is
 * always a path inside the workspace. A symlink that a glob matches, or that lies on a glob's
 * literal path (`out/*.txt` with `out` a link), is refused and reported, never stored. Each file
 * is then opened without following links and its real path re-checked through /proc/self/fd,
 * so a path swapped for a link between the walk and the read is refused too.
 */
import { constants as fsConstants } from 'node:fs'
import { open, readdir, readlink, realpath } from 'node:fs/promises'
import { join } from 'node:path'
import picomatch from 'picomatch'
import { MAX_ARTEFACT_FILES } from './constants.js'
import { ARTEFACT_MODE_MASK } from '../../protocols/job/records.js'
import type { ArtefactEntry, RefusedArtefact } from './types.js'
import type { BlobStore } from '../../store/blobs/types.js'
import type { Logger } from '../../store/logger.js'

/** what was stored, and what was refused and why */
export interface ArtefactsResult {
  artefacts: ArtefactEntry[]
  refused: RefusedArtefact[]
}

interface Pattern { glob: string, base: string, match: (path: string) => boolean }

/** why a glob can never be used, or undefined when it is fine */
export function globProblem (glob: string): string | undefined {
  const body = glob.startsWith('!') ? glob.slice(1) : glob
  if (body === '') return 'empty glob'
  if (body.includes('\0')) return 'glob contains a NUL character'
  if (body.startsWith('/')) return 'glob is an absolute path: artefacts are matched inside the workspace'
  if (body.split('/').includes('..')) return 'glob contains `..`: artefacts are matched inside the workspace'
  return undefined
}

function compile (globs: string[], refused: RefusedArtefact[]): { include: Pattern[], exclude: Pattern[] } {
  const include: Pattern[] = []
  const exclude: Pattern[] = []
  for (const glob of globs) {
    const problem = globProblem(glob)
    if (problem !== undefined) {
      refused.push({ path: glob, reason: problem })
      continue
    }
    const negated = glob.startsWith('!')
    const body = negated ? glob.slice(1) : glob
    const pattern = { glob, base: picomatch.scan(body).base, match: picomatch(body) }
    ;(negated ? exclude : include).push(pattern)
  }
  return { include, exclude }
}

interface Walked { files: string[], refused: RefusedArtefact[] }

async function walk (root: string, rel: string, patterns: { include: Pattern[], exclude: Pattern[] }, out: Walked): Promise<void> {
  let entries
  try {
    entries = await readdir(join(root, rel), { withFileTypes: true })
  } catch (err: any) {
    out.refused.push({ path: rel, reason: `cannot read the directory: ${String(err?.code ?? err)}` })
    return
  }
  entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  for (const entry of entries) {
    const path = rel === '' ? entry.name : `${rel}/${entry.name}`
    const matched = patterns.include.some(p => p.match(path)) && !patterns.exclude.some(p => p.match(path))
    if (entry.isSymbolicLink()) {
      const onPath = patterns.include.some(p => p.base === path || p.base.startsWith(path + '/'))
      if (matched || onPath) out.refused.push({ path, reason: 'a symbolic link: links are never followed out of the workspace' })
    } else if (entry.isDirectory()) {
      await walk(root, path, patterns, out)
    } else if (matched) {
      if (entry.isFile()) out.files.push(path)
      else out.refused.push({ path, reason: 'not a regular file' })
    }
  }
}

/**
 * Match `globs` against the files of `workspace` and store each match. Globs starting with `!`
 * exclude what they match. Never throws for a bad glob or a refused file: those are reported.
 */
export async function collectArtefacts (workspace: string, globs: string[], blobs: BlobStore, log: Logger): Promise<ArtefactsResult> {
  const refused: RefusedArtefact[] = []
  const patterns = compile(globs, refused)
  const artefacts: ArtefactEntry[] = []
  if (patterns.include.length === 0) return { artefacts, refused }
  const root = await realpath(workspace)
  const walked: Walked = { files: [], refused }
  await walk(root, '', patterns, walked)
  for (const [i, path] of walked.files.entries()) {
    if (i >= MAX_ARTEFACT_FILES) {
      refused.push({ path, reason: `more than ${MAX_ARTEFACT_FILES} files matched` })
      continue
    }
    const stored = await storeOne(root, path, blobs)
    if ('reason' in stored) refused.push(stored)
    else artefacts.push(stored)
  }
  for (const r of refused) log.warn('artefact refused', { path: r.path, reason: r.reason })
  artefacts.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  return { artefacts, refused }
}

async function storeOne (root: string, path: string, blobs: BlobStore): Promise<ArtefactEntry | RefusedArtefact> {
  const full = join(root, path)
  let handle
  try {
    // O_NONBLOCK: a file swapped for a FIFO must not block the open
    handle = await open(full, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK)
  } catch (err: any) {
    return { path, reason: err?.code === 'ELOOP' ? 'a symbolic link: links are never followed out of the workspace' : `cannot open: ${String(err?.code ?? err)}` }
  }
  try {
    const st = await handle.stat()
    if (!st.isFile()) return { path, reason: 'not a regular file' }
    const byFd = `/proc/self/fd/${handle.fd}`
    const real = await readlink(byFd).catch(() => undefined)
    if (real !== undefined && real !== full) return { path, reason: `resolves outside the workspace path (${real})` }
    // reading through the descriptor's magic link reads exactly the file that was checked
    try {
      const info = await blobs.putFile(real !== undefined ? byFd : full)
      return { path, sha256: info.hash, size: info.size, mode: st.mode & ARTEFACT_MODE_MASK }
    } catch (err: any) {
      // the system error under the store's (ENOSPC under ERR_BLOB_WRITE_FAILED) says what to do
      const why = [err?.code, err?.cause?.code].filter(c => typeof c === 'string').join(': ')
      return { path, reason: `could not be stored: ${why !== '' ? why : String(err?.message ?? err)}`, storeFailed: true }
    }
  } finally {
    await handle.close()
  }
}
