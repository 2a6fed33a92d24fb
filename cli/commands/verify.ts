import { readFile } from 'node:fs/promises'
import { parse, positionals } from '../context.js'
import { CliError, EXIT } from '../errors.js'
import { shortId } from '../output.js'
import type { Output } from '../output.js'
import type { ControlClient } from '../client.js'
import type { ProvenanceReport } from '../../node/provenance/index.js'
import type { JobView } from '../../node/jobs/types.js'

export const usage = 'cit-node verify HASH [--statement FILE] [--json]\n       cit-node verify --rebuild HASH|JOB [--json]'
export const summary = 'the provenance of an artefact, log or output closure: who built it from what, every signature checked'

interface Values { statement?: string, rebuild?: boolean }

/** codes that mean "not verified" (exit 1) rather than bad input */
const FAILED = new Set(['ERR_NO_PROVENANCE', 'ERR_HASH_MISMATCH', 'ERR_MALFORMED_STATEMENT', 'ERR_BLOB_NOT_FOUND', 'ERR_FETCH_FAILED', 'ERR_NO_HOLDERS'])

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse<Values>(argv, { statement: { type: 'string' }, rebuild: { type: 'boolean' } }, usage, io)
  if (p.help) { io.out(`usage: ${usage}\n${summary}\n--statement FILE checks a statement handed over by anyone instead of the one the result names`); return 0 }
  const [ref] = positionals(p, ['HASH'], usage)
  const client = p.ctx.client()
  if (p.values.rebuild === true) return await rebuild(ref, client, io, p.ctx.json)
  const envelope = p.values.statement != null ? await readStatement(p.values.statement) : undefined
  let report: ProvenanceReport
  try {
    report = await client.verify(ref, envelope)
  } catch (err: any) {
    if (err instanceof CliError && FAILED.has(err.code)) throw new CliError(err.code, `not verified: ${err.message}`, [], EXIT.JOB_FAILED)
    throw err
  }
  if (p.ctx.json) io.out(JSON.stringify(report))
  else io.out(formatReport(report))
  if (!report.ok) {
    if (!p.ctx.json) io.err(`cit-node: NOT VERIFIED: ${report.problems.join('; ')}`)
    return EXIT.JOB_FAILED
  }
  return EXIT.OK
}

async function readStatement (file: string): Promise<Uint8Array> {
  try {
    return await readFile(file)
  } catch (err: any) {
    throw new CliError('ERR_USAGE', `cannot read ${file}: ${String(err?.code ?? err?.message)}`, [], EXIT.USAGE)
  }
}

/** re-run the job on another member and say whether its outputs match */
async function rebuild (ref: string, client: ControlClient, io: Output, json: boolean): Promise<number> {
  const job = await client.rebuild(ref)
  if (!json) io.err(`cit-node: rebuilding as job ${job.id}`)
  const done: JobView = await client.wait(job.id)
  if (json) io.out(JSON.stringify(done))
  const r = done.rebuild
  if (r == null) {
    if (!json) io.err(`cit-node: the rebuild ${done.state}${done.reason != null ? `: ${done.reason}` : ''}`)
    return EXIT.JOB_FAILED
  }
  if (!json) {
    io.out(r.matched
      ? `reproduced: job ${shortId(r.of)} rebuilt by ${done.executor ?? '?'} gave the same outputs; co-signed statement ${r.statement}`
      : `NOT reproduced: ${r.mismatches.join('; ')}`)
  }
  return r.matched ? EXIT.OK : EXIT.JOB_FAILED
}

/** the human form: what was asked, who built it from what, every signature */
export function formatReport (r: ProvenanceReport): string {
  const ext = r.predicate.buildDefinition.externalParameters
  const int = r.predicate.buildDefinition.internalParameters
  const run = r.predicate.runDetails
  const src = ext.source
  const lines = [
    `subject    ${r.asked.sha256}${r.asked.name != null ? `  (${r.asked.name})` : ''}`,
    `statement  ${r.envelope}`,
    `job        ${int.job}  ${ext.job.name}`,
    `submitter  ${ext.submitter}`,
    `builder    ${run.builder.id.replace(/^urn:cit-node:node:/, '')}  labels ${int.labels.join(',') || '-'}`,
    `commit     ${src != null ? `${src.commit}  ${src.repo}${src.ref != null ? ` (${src.ref})` : ''}` : '-  (not made by a trigger)'}`,
    ...(ext.nix != null ? [`derivation ${ext.nix.drv}`] : []),
    ...(ext.rebuildOf != null ? [`rebuild of ${ext.rebuildOf.job}`] : []),
    `epoch      ${int.epoch}`,
    `built      ${run.metadata.startedOn} → ${run.metadata.finishedOn}`,
    'signatures'
  ]
  for (const v of r.verified) lines.push(`  ${v.ok ? 'ok ' : 'BAD'}  ${v.as.padEnd(9)} ${v.keyid}${v.job != null ? ` (rebuild ${shortId(v.job)})` : ''}${v.problem != null ? `: ${v.problem}` : ''}`)
  lines.push(r.ok ? `verified: ${r.verified.length} signature${r.verified.length === 1 ? '' : 's'} checked against the mesh's trust records` : 'NOT VERIFIED')
  return lines.join('\n')
}
