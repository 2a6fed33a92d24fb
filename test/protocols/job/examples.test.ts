import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import picomatch from 'picomatch'
import { resolveParams } from '../../../protocols/job/index.js'
import { parseJobFile } from '../../../protocols/job/parse.js'
import type { JobSpec } from '../../../protocols/job/types.js'

const EXAMPLES = new URL('../../../examples/', import.meta.url)

async function load (name: string): Promise<JobSpec> {
  const { spec, problems } = parseJobFile(await readFile(new URL(name, EXAMPLES), 'utf8'), { filename: name })
  expect(problems).toEqual([])
  return spec as JobSpec
}

interface Run { outcome: 'succeeded' | 'failed', output: string }

/**
 * Runs a spec the way docs/job-file.md says a node does: job onStart; each stage's onStart,
 * steps, then onSuccess or onFailure; then the job's onSuccess or onFailure. A failing step
 * stops its stage and the job unless ignoreExitCode; hook exit codes never matter. This checks
 * the examples and the documented order with real sh processes; the daemon's executor is
 * tested on its own.
 */
function run (spec: JobSpec, params: Record<string, string>, cwd: string): Run {
  let output = ''
  const env = { ...process.env, ...params }
  const sh = (command: string): number => {
    const result = spawnSync('sh', ['-c', command], { cwd, env, encoding: 'utf8', timeout: 10_000 })
    output += result.stdout + result.stderr
    return result.status ?? -1
  }
  if (spec.onStart !== undefined) sh(spec.onStart)
  let failed = false
  for (const stage of spec.stages) {
    if (stage.onStart !== undefined) sh(stage.onStart)
    for (const step of stage.steps) {
      if (sh(step.command) !== 0 && !step.ignoreExitCode) { failed = true; break }
    }
    const hook = failed ? stage.onFailure : stage.onSuccess
    if (hook !== undefined) sh(hook)
    if (failed) break
  }
  const hook = failed ? spec.onFailure : spec.onSuccess
  if (hook !== undefined) sh(hook)
  return { outcome: failed ? 'failed' : 'succeeded', output }
}

async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)))
}

describe('examples/', () => {
  let workspace: string
  beforeEach(async () => { workspace = await mkdtemp(join(tmpdir(), 'cit-examples-')) })
  afterEach(async () => { await rm(workspace, { recursive: true, force: true }) })

  it('build.yaml builds dist/hello.tar.gz and report.xml, both matched by its artefact globs', async () => {
    const spec = await load('build.yaml')
    const started = performance.now()
    const result = run(spec, resolveParams(spec, {}).values, workspace)
    expect(result.outcome, result.output).toBe('succeeded')
    // a safety bound, not a benchmark: the examples are meant to take a second or two
    expect(performance.now() - started).toBeLessThan(10_000)
    expect((await stat(join(workspace, 'dist/hello.tar.gz'))).size).toBeGreaterThan(0)
    expect(await readFile(join(workspace, 'report.xml'), 'utf8')).toContain('<testsuite')
    const isMatch = picomatch(spec.artefacts)
    expect((await filesUnder(workspace)).filter((f) => isMatch(f)).sort()).toEqual(['dist/hello.tar.gz', 'report.xml'])
    expect(result.output).toContain('== build succeeded')
    // the workspace persists per job name: a second run in the same one must work too
    expect(run(spec, {}, workspace).outcome).toBe('succeeded')
  })

  it('failing.yaml fails at its step and runs the stage and job onFailure hooks, in order', async () => {
    const spec = await load('failing.yaml')
    const { outcome, output } = run(spec, {}, workspace)
    expect(outcome).toBe('failed')
    const order = ['a step that works', 'about to fail', 'stage onFailure:', 'job onFailure:']
    const at = order.map((line) => output.indexOf(line))
    expect(at.every((i) => i >= 0), output).toBe(true)
    expect([...at].sort((a, b) => a - b)).toEqual(at)
    expect(output).not.toContain('not reached')
    expect(output).not.toContain('never printed')
  })

  it('params.yaml echoes a default and a value given with --param', async () => {
    const spec = await load('params.yaml')
    const resolved = resolveParams(spec, { GREETING: 'howdy' })
    expect(resolved.problems).toEqual([])
    const { outcome, output } = run(spec, resolved.values, workspace)
    expect(outcome).toBe('succeeded')
    expect(output).toContain('howdy, world!')
    expect(run(spec, resolveParams(spec, {}).values, workspace).output).toContain('hello, world!')
  })
})
