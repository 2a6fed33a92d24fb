import { chmod, link, mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { Identity } from '../protocols/codec/index.js'

/** Where a node keeps its state. */
export interface HomePaths {
  root: string
  identity: string
  config: string
  db: string
  blobs: string
  workspaces: string
  socket: string
  pidfile: string
  log: string
}

/** `--home DIR`, else `$CIT_HOME`, else `~/.cit` */
export function resolveHome (flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag != null && flag !== '') return resolve(flag)
  if (env.CIT_HOME != null && env.CIT_HOME !== '') return resolve(env.CIT_HOME)
  return join(homedir(), '.cit')
}

export function homePaths (root: string): HomePaths {
  return {
    root,
    identity: join(root, 'identity.key'),
    config: join(root, 'config.json'),
    db: join(root, 'db'),
    blobs: join(root, 'blobs'),
    workspaces: join(root, 'workspaces'),
    socket: join(root, 'control.sock'),
    pidfile: join(root, 'daemon.pid'),
    log: join(root, 'daemon.log')
  }
}

/**
 * Create the home (owner-only) if missing. An existing home keeps its mode: one that lets
 * others in is refused at start (permissions.ts), not quietly tightened after the fact.
 */
export async function ensureHome (root: string): Promise<HomePaths> {
  const created = await mkdir(root, { recursive: true, mode: 0o700 })
  // whatever the umask made of it
  if (created !== undefined) await chmod(root, 0o700)
  return homePaths(root)
}

/** Write a file atomically: temp file, fsync, rename. */
export async function writeFileAtomic (path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}

/**
 * The node's Ed25519 identity, created on first use and kept in the home with mode 0600.
 * Two processes racing to create it both end up with the one that landed first.
 */
export async function loadOrCreateIdentity (paths: HomePaths): Promise<Identity> {
  try {
    return Identity.fromBytes(await readFile(paths.identity))
  } catch (err: any) {
    if (err?.code !== 'ENOENT') throw err
  }
  const identity = await Identity.generate()
  const tmp = `${paths.identity}.${process.pid}.tmp`
  await writeFile(tmp, identity.toBytes(), { mode: 0o600 })
  try {
    // link() fails if the name exists: the first writer wins, atomically
    await link(tmp, paths.identity).catch((err: any) => { if (err?.code !== 'EEXIST') throw err })
  } finally {
    await unlink(tmp).catch(() => {})
  }
  return Identity.fromBytes(await readFile(paths.identity))
}
