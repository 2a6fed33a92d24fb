import { parse } from '../context.js'
import { CliError, EXIT, UsageError } from '../errors.js'
import type { Output } from '../output.js'

export const usage = 'cit-node nix import HASH|JOB [--json]'
export const summary = 'import a Nix job\'s output closure, fetched from whoever holds it, into the local Nix store'

/** codes that mean the import was refused or failed (exit 1), not that the input was wrong */
const FAILED = new Set(['ERR_HASH_MISMATCH', 'ERR_NIX_CLOSURE', 'ERR_NIX_COMMAND', 'ERR_NO_PROVENANCE', 'ERR_NIX_UNAVAILABLE', 'ERR_FETCH_FAILED', 'ERR_NO_HOLDERS'])

export async function run (argv: string[], io: Output): Promise<number> {
  const p = parse(argv, {}, usage, io)
  if (p.help) {
    io.out(`usage: ${usage}\n${summary}\nHASH is an output closure's sha256 (show --json: nix.outputs[].closure); JOB imports every output of a Nix job`)
    return 0
  }
  const [sub, ref, ...rest] = p.positionals
  if (sub !== 'import') throw new UsageError(sub == null ? 'missing subcommand (import)' : `unknown subcommand ${JSON.stringify(sub)}`, [`usage: ${usage}`])
  if (ref == null || rest.length > 0) throw new UsageError(ref == null ? 'missing HASH|JOB' : `unexpected argument ${JSON.stringify(rest[0])}`, [`usage: ${usage}`])
  let report
  try {
    report = await p.ctx.client().nixImport(ref)
  } catch (err: any) {
    if (err instanceof CliError && FAILED.has(err.code)) throw new CliError(err.code, `import refused: ${err.message}`, [], EXIT.JOB_FAILED)
    throw err
  }
  if (p.ctx.json) {
    io.out(JSON.stringify(report))
  } else {
    for (const o of report.outputs) io.out(`${o.imported ? 'imported' : 'already valid'}  ${o.path}  (${o.name}, closure ${o.closure})`)
  }
  return EXIT.OK
}
