#!/usr/bin/env node
import '../node/polyfill.js'
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { CliError, EXIT, exitCodeFor, hintFor } from './errors.js'
import { isKnownCode } from '../node/error-codes.js'
import { processOutput } from './output.js'
import { nearest } from './context.js'
import type { Output } from './output.js'

interface Command {
  usage: string
  summary: string
  run: (argv: string[], io: Output) => Promise<number>
}

/** one module per command, loaded only when used */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => await import('./commands/run.js'),
  submit: async () => await import('./commands/submit.js'),
  jobs: async () => await import('./commands/jobs.js'),
  show: async () => await import('./commands/show.js'),
  logs: async () => await import('./commands/logs.js'),
  cancel: async () => await import('./commands/cancel.js'),
  priority: async () => await import('./commands/priority.js'),
  fetch: async () => await import('./commands/fetch.js'),
  gc: async () => await import('./commands/gc.js'),
  nix: async () => await import('./commands/nix.js'),
  verify: async () => await import('./commands/verify.js'),
  attach: async () => await import('./commands/attach.js'),
  validate: async () => await import('./commands/validate.js'),
  status: async () => await import('./commands/status.js'),
  init: async () => await import('./commands/init.js'),
  invite: async () => await import('./commands/invite.js'),
  join: async () => await import('./commands/join.js'),
  peers: async () => await import('./commands/peers.js'),
  pause: async () => await import('./commands/pause.js'),
  resume: async () => await import('./commands/resume.js'),
  drain: async () => await import('./commands/drain.js'),
  leave: async () => await import('./commands/leave.js'),
  trust: async () => await import('./commands/trust.js'),
  token: async () => await import('./commands/token.js'),
  repo: async () => await import('./commands/repo.js'),
  hook: async () => await import('./commands/hook.js'),
  trigger: async () => await import('./commands/trigger.js'),
  events: async () => await import('./commands/events.js'),
  start: async () => await import('./commands/start.js'),
  stop: async () => await import('./commands/stop.js')
}

/** the version in package.json (dist/cli/main.js → the package root) */
function version (): string {
  try {
    return String(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version)
  } catch {
    return 'unknown'
  }
}

async function help (io: Output): Promise<void> {
  const lines = ['usage: cit-node COMMAND [ARGS] [--home DIR] [--json]', '', 'commands:']
  for (const [name, load] of Object.entries(COMMANDS)) {
    const c = await load()
    lines.push(`  ${name.padEnd(10)} ${c.summary}`)
  }
  lines.push('', 'State lives in --home DIR, else $CIT_HOME, else ~/.cit. `cit-node COMMAND --help` for a command\'s flags.')
  io.out(lines.join('\n'))
}

/** Run the CLI with these arguments; resolves to the exit status. Never throws. */
export async function main (argv: string[], io: Output = processOutput): Promise<number> {
  const [name, ...rest] = argv
  try {
    if (name == null || name === 'help' || name === '--help' || name === '-h') {
      await help(io)
      return name == null ? EXIT.USAGE : EXIT.OK
    }
    if (name === '--version' || name === 'version') {
      io.out(`cit-node ${version()}`)
      return EXIT.OK
    }
    const load = COMMANDS[name]
    if (load == null) {
      const prefixed = Object.keys(COMMANDS).filter(c => c.startsWith(name.slice(0, 2)))
      const close = nearest(name, Object.keys(COMMANDS))
      const near = prefixed.length > 0 ? prefixed : close != null ? [close] : []
      throw new CliError('ERR_USAGE', `unknown command ${JSON.stringify(name)}${near.length > 0 ? ` (did you mean ${near.join(' or ')}?)` : ''}; see \`cit-node --help\``)
    }
    return await (await load()).run(rest, io)
  } catch (err: any) {
    return report(err, io, argv.includes('--json'))
  }
}

/**
 * One line for an error with a code in the error table (with the table's hint, and the problems a
 * broken input has); the stack only for what nobody foresaw: that is a bug. With --json, the
 * line is `{"error": {"code", "message", "hint", "problems"}}` for scripts to match the code.
 */
export function report (err: any, io: Output, json = false): number {
  const known = isKnownCode(err?.code)
  const message = String(err?.message ?? err)
  const hint = known ? hintFor(err.code, message) : undefined
  const problems: string[] = err instanceof CliError ? err.details : (err?.problems ?? []).map((p: any) => `${String(p.path)}: ${String(p.message)}`)
  if (json) {
    io.err(JSON.stringify({ error: { code: known ? err.code : 'ERR_INTERNAL', message, hint, problems: problems.length > 0 ? problems : undefined } }))
  }
  if (!known) {
    io.err(`cit-node: internal error: ${String(err?.stack ?? err)}`)
    return EXIT.INTERNAL
  }
  if (!json) {
    io.err(`cit-node: ${message}${hint != null ? ` (${hint})` : ''}`)
    for (const d of problems) io.err(`  ${d}`)
  }
  return err instanceof CliError ? err.exitCode : exitCodeFor(err.code)
}

function isEntry (): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url)
  } catch {
    return false
  }
}

// run only when executed as the program, not when imported by tests
if (isEntry()) {
  main(process.argv.slice(2)).then(code => {
    process.exitCode = code
    // libraries (libp2p) keep timers alive for a moment after stop: exit once stdout has flushed
    process.stdout.write('', () => { process.exit(code) })
  }, err => {
    process.stderr.write(`cit-node: internal error: ${String(err?.stack ?? err)}\n`)
    process.exit(EXIT.INTERNAL)
  })
}
