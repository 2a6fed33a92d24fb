/**
 * Shared fixtures of the executor tests: a temp dir with a real FsBlobStore and an Executor,
 * a job spec builder, recording readers and polling helpers.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Executor } from '../../../node/executor/index.js'
import { FsBlobStore } from '../../../store/blobs/fs-blob-store.js'
import type { ExecutorInit } from '../../../node/executor/index.js'
import type { JobSpec, StageSpec } from '../../../protocols/job/types.js'
import type { BlobStore } from '../../../store/blobs/types.js'

export interface Fixture {
  dir: string
  workspaces: string
  blobs: BlobStore
  executor: Executor
  cleanup: () => Promise<void>
}

export async function makeFixture (init: Partial<ExecutorInit> = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'cit-exec-'))
  const blobs = new FsBlobStore({}, { dir: join(dir, 'blobs') })
  await blobs.start()
  const workspaces = join(dir, 'workspaces')
  const executor = new Executor({ blobs }, { workspacesDir: workspaces, graceMs: 500, ...init })
  return {
    dir,
    workspaces,
    blobs,
    executor,
    cleanup: async () => {
      await blobs.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/** steps as `[title, command]` or `[title, command, ignoreExitCode]` */
export type StepShorthand = [string, string] | [string, string, boolean]

export function stage (title: string, steps: StepShorthand[], hooks: Partial<StageSpec> = {}): StageSpec {
  return { title, steps: steps.map(([t, command, ignore]) => ({ title: t, command, ignoreExitCode: ignore ?? false })), ...hooks }
}

export function spec (name: string, stages: StageSpec[], extra: Partial<JobSpec> = {}): JobSpec {
  return {
    name,
    priority: 0,
    timeoutMs: 30_000,
    requires: { labels: [], cores: 1, memoryBytes: 0 },
    params: {},
    supersede: 'waiting',
    cache: false,
    stages,
    artefacts: [],
    ...extra
  }
}

export async function readBlob (blobs: BlobStore, hash: string): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of blobs.get(hash)) chunks.push(chunk)
  return Buffer.concat(chunks)
}

export function sha256 (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

export interface Cast {
  header: Record<string, any>
  events: Array<[number, string, string]>
  /** every "o" event's text, concatenated */
  output: string
  markers: string[]
}

/** parse an asciicast v2 recording, checking the shape of every line */
export function parseCast (text: string): Cast {
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  const header = JSON.parse(lines[0])
  const events = lines.slice(1).map(line => {
    const ev = JSON.parse(line)
    if (!Array.isArray(ev) || ev.length !== 3 || typeof ev[0] !== 'number' || typeof ev[1] !== 'string' || typeof ev[2] !== 'string') {
      throw new Error(`not an asciicast v2 event: ${line}`)
    }
    return ev as [number, string, string]
  })
  return {
    header,
    events,
    output: events.filter(e => e[1] === 'o').map(e => e[2]).join(''),
    markers: events.filter(e => e[1] === 'm').map(e => e[2])
  }
}

export async function readCast (blobs: BlobStore, hash: string): Promise<Cast> {
  return parseCast((await readBlob(blobs, hash)).toString('utf8'))
}

/** a live process (not a zombie) with this pid exists */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}
