#!/usr/bin/env node
import '../node/polyfill.js'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { CliError, EXIT, exitCodeFor } from './errors.js'
import { processOutput } from './output.js'
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
  start: async () => await import('./commands/start.js'),
  stop: async () => await import('./commands/stop.js')
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
      io.out('cit-node 0.1.0')
      return EXIT.OK
    }
    const load = COMMANDS[name]
    if (load == null) {
      const near = Object.keys(COMMANDS).filter(c => c.startsWith(name.slice(0, 2)))
      throw new CliError('ERR_USAGE', `unknown command ${JSON.stringify(name)}${near.length > 0 ? ` (did you mean ${near.join(' or ')}?)` : ''}; see \`cit-node --help\``, EXIT.USAGE)
    }
    return await (await load()).run(rest, io)
  } catch (err: any) {
    if (err instanceof CliError) {
      io.err(`cit-node: ${err.message}`)
      for (const d of err.details) io.err(`  ${d}`)
      return err.exitCode
    }
    const code = exitCodeFor(err?.code)
    if (code !== EXIT.INTERNAL) {
      io.err(`cit-node: ${String(err?.message ?? err)}`)
      for (const p of err?.problems ?? []) io.err(`  ${String(p.path)}: ${String(p.message)}`)
      return code
    }
    io.err(`cit-node: internal error: ${String(err?.stack ?? err)}`)
    return EXIT.INTERNAL
  }
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
