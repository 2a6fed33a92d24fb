import { parseArgs } from 'node:util'
import { homePaths, resolveHome } from '../node/home.js'
import { ControlClient } from './client.js'
import { UsageError } from './errors.js'
import { nearestName } from '../protocols/job/values.js'
import { processOutput } from './output.js'
import type { ParseArgsConfig } from 'node:util'
import type { Output } from './output.js'

type Options = NonNullable<ParseArgsConfig['options']>

/** options every command takes */
const GLOBAL: Options = {
  home: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
}

export interface Context {
  home: string
  json: boolean
  io: Output
  client: () => ControlClient
}

export interface Parsed<V> {
  ctx: Context
  values: V
  positionals: string[]
  help: boolean
}

/**
 * Parse a command's arguments strictly: an unknown flag or a missing value is a usage error
 * (exit 2) with the command's usage line.
 */
export function parse<V = Record<string, unknown>> (argv: string[], options: Options, usage: string, io: Output = processOutput): Parsed<V> {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: { ...GLOBAL, ...options }, allowPositionals: true, strict: true })
  } catch (err: any) {
    throw new UsageError(flagProblem(err, { ...GLOBAL, ...options }), [`usage: ${usage}`])
  }
  const v = parsed.values as Record<string, unknown>
  const home = resolveHome(v.home as string | undefined)
  const ctx: Context = {
    home,
    json: v.json === true,
    io,
    client: () => new ControlClient(homePaths(home).socket, home)
  }
  return { ctx, values: v as V, positionals: parsed.positionals, help: v.help === true }
}

/**
 * node:util's parse error in our words: an unknown flag with the nearest known one, a missing
 * or unwanted value (its own message is two lines with a stray quote and no suggestion).
 */
function flagProblem (err: any, options: Options): string {
  const message = String(err?.message ?? err)
  const flag = /Option '([^' ]+)/.exec(message)?.[1] ?? /option '([^']+)'/i.exec(message)?.[1]
  if (err?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag != null) {
    return `unknown flag ${flag}${didYouMean(flag, options)}`
  }
  if (err?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag != null) {
    return message.includes('argument missing') ? `${flag} needs a value` : `${flag} takes no value`
  }
  return message.split('\n')[0]
}

function didYouMean (flag: string, options: Options): string {
  const given = flag.replace(/^-+/, '').split('=')[0]
  const names = Object.entries(options).flatMap(([name, o]) => [name, ...(o.short != null ? [o.short] : [])])
  const near = nearest(given, names)
  if (near == null) return ''
  return ` (did you mean ${near.length === 1 ? `-${near}` : `--${near}`}?)`
}

/** the known name closest to `given` (a typo, a prefix), or undefined if none is close */
export function nearest (given: string, names: readonly string[]): string | undefined {
  return nearestName(given, names)
}

/** the exact number of positionals a command wants, or a usage error */
export function positionals (p: Parsed<unknown>, names: string[], usage: string): string[] {
  if (p.positionals.length !== names.length) {
    const what = p.positionals.length < names.length ? `missing ${names.slice(p.positionals.length).join(' ')}` : `unexpected argument ${JSON.stringify(p.positionals[names.length])}`
    throw new UsageError(what, [`usage: ${usage}`])
  }
  return p.positionals
}

/** `--param K=V` values, however many were given */
export function listOf (value: unknown): string[] {
  if (value == null) return []
  return Array.isArray(value) ? value.map(String) : [String(value)]
}
