/**
 * `cit-node submit --nix FILE.nix...`: each file is evaluated here (`nix-instantiate`, with this
 * user's Nix settings) before anything is queued; one that does not give exactly one derivation
 * stops the command with the evaluator's words (exit 2). Then each derivation is submitted as a
 * job named after its file. A derivation may set `citLabels` (space-separated labels replacing
 * the default `nix`) and `citTimeout` (a duration such as `20m`).
 */
import { basename } from 'node:path'
import { JOB_NAME_PATTERN, LABEL_PATTERN, MAX_NAME_LENGTH, parseDuration } from '../../protocols/job/index.js'
import { NixTool } from '../../node/nix/index.js'
import { CliError, EXIT, UsageError } from '../errors.js'
import { cancelOnInterrupt, followAndWait } from '../follow.js'
import type { NixSubmitBody } from '../../node/nix/index.js'
import type { Context } from '../context.js'
import type { Output } from '../output.js'

/** what a file evaluated to, ready to submit */
type Evaluated = NixSubmitBody & { file: string }

/** the job name of a `.nix` file: its base name without `.nix` */
export function nixJobName (file: string): string {
  const name = basename(file).replace(/\.nix$/, '')
  if (name.length === 0 || name.length > MAX_NAME_LENGTH || !JOB_NAME_PATTERN.test(name)) {
    throw new UsageError(`${file}: "${name}" cannot be a job name (letters, digits, '.', '_', '-'; not starting with '.' or '-')`)
  }
  return name
}

/** evaluate one file and read what it says about how to run it */
async function evaluate (tool: NixTool, file: string): Promise<Evaluated> {
  const name = nixJobName(file)
  let drv: string
  try {
    drv = await tool.instantiate(file)
  } catch (err: any) {
    if (err?.code === 'ERR_NIX_EVAL' || err?.code === 'ERR_NIX_UNAVAILABLE') throw new CliError(err.code, String(err.message), [], EXIT.USAGE)
    throw err
  }
  const body: Evaluated = { file, drv, name }
  const labels = await tool.binding(drv, 'citLabels')
  if (labels != null) {
    body.labels = labels.split(/\s+/).filter(l => l !== '')
    const bad = body.labels.find(l => !LABEL_PATTERN.test(l))
    if (bad != null) throw new UsageError(`${file}: citLabels: ${JSON.stringify(bad)} is not a label`)
  }
  const timeout = await tool.binding(drv, 'citTimeout')
  if (timeout != null) {
    const ms = parseDuration(timeout)
    if (ms == null) throw new UsageError(`${file}: citTimeout: ${JSON.stringify(timeout)} is not a duration (e.g. 20m)`)
    body.timeoutMs = ms
  }
  return body
}

/** evaluate every file, then submit each; with --wait or --follow, wait for all of them */
export async function submitNix (files: string[], ctx: Context, io: Output, options: { priority?: number, wait: boolean, follow: boolean }): Promise<number> {
  if (files.length === 0) throw new UsageError('missing FILE.nix')
  const tool = new NixTool()
  // every file must evaluate before any job is queued
  const evaluated: Evaluated[] = []
  for (const file of files) evaluated.push(await evaluate(tool, file))
  const client = ctx.client()
  const submitted: Array<{ id: string, name: string, drv: string }> = []
  for (const e of evaluated) {
    const view = await client.submitNix({ drv: e.drv, name: e.name, labels: e.labels, timeoutMs: e.timeoutMs, priority: options.priority })
    submitted.push({ id: view.id, name: view.name, drv: e.drv })
  }
  if (!options.wait && !options.follow) {
    if (ctx.json) io.out(JSON.stringify(submitted.length === 1 ? submitted[0] : submitted))
    else for (const s of submitted) io.out(s.id)
    return EXIT.OK
  }
  let worst: number = EXIT.OK
  for (const s of submitted) {
    if (!ctx.json) io.err(`cit-node: submitted ${s.name} (${s.drv}) as job ${s.id}`)
    const release = cancelOnInterrupt(client, () => s.id, io)
    try {
      worst = Math.max(worst, await followAndWait(client, s.id, io, { follow: options.follow, json: ctx.json }))
    } finally {
      release()
    }
  }
  return worst
}
