import { parseArgs } from 'node:util'
import { homePaths, resolveHome } from '../node/home.js'
import { ControlClient } from './client.js'
import { UsageError } from './errors.js'
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
    throw new UsageError(`${String(err?.message ?? err).split('\n')[0]}`, [`usage: ${usage}`])
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
