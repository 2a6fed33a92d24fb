import '../../../node/polyfill.js'
import { readdir, readFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERRORS, EXIT } from '../../../node/error-codes.js'
import { ControlServer } from '../../../node/control/server.js'
import { NodeError } from '../../../node/errors.js'
import { exitCodeFor } from '../../../cli/errors.js'
import { ROOT, tempHome } from '../../helpers/cli.js'
import { silentLogger } from '../../../store/logger.js'
import type { ControlHandlers } from '../../../node/control/types.js'

async function sources (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.ts')) out.push(join(e.parentPath, e.name))
  }
  return out
}

/** the rows of the markdown table that follows `heading` in `text` */
function tableAfter (text: string, heading: string): string[][] {
  const at = text.indexOf(heading)
  expect(at, `${heading} in docs/cli.md`).toBeGreaterThanOrEqual(0)
  const lines = text.slice(at).split('\n').slice(1)
  const start = lines.findIndex(l => l.startsWith('|'))
  const rows: string[][] = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map(c => c.trim().replace(/\\\|/g, '|')))
  }
  return rows
}

describe('the error table', () => {
  it('names every error code the source uses', async () => {
    const files = [...await sources('cli'), ...await sources('node'), ...await sources('protocols'), ...await sources('store')]
    const used = new Set<string>()
    for (const f of files) for (const m of (await readFile(f, 'utf8')).matchAll(/'(ERR_[A-Z0-9_]*[A-Z0-9])'/g)) used.add(m[1])
    expect(used.size).toBeGreaterThan(40)
    // Node.js's own codes, which the CLI reads and turns into one of ours (ERR_USAGE)
    const fromNode = new Set(['ERR_PARSE_ARGS_UNKNOWN_OPTION', 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE'])
    expect([...used].filter(c => !(c in ERRORS) && !fromNode.has(c))).toEqual([])
  })

  it('docs/cli.md lists every exit status and every code exactly as the table says', async () => {
    const doc = await readFile(join(ROOT, 'docs/cli.md'), 'utf8')
    const statuses = tableAfter(doc, '## Exit statuses').map(r => Number(r[0]))
    expect(statuses).toEqual(Object.values(EXIT))
    const rows = tableAfter(doc, '## Error codes')
    const documented = Object.fromEntries(rows.map(r => [r[0].replace(/`/g, ''), { class: r[1], exit: Number(r[2]), http: Number(r[3]), hint: r[4] === '' ? undefined : r[4] }]))
    const table = Object.fromEntries(Object.entries(ERRORS).map(([code, e]) => [code, { class: e.class, exit: e.exit, http: e.http, hint: (e as { hint?: string }).hint }]))
    expect(documented).toEqual(table)
    // every status a code maps to is a documented one
    for (const e of Object.values(ERRORS)) expect(statuses).toContain(e.exit)
  })

  it('the CLI maps each code to the table\'s exit status, and anything unknown to 70', () => {
    for (const [code, e] of Object.entries(ERRORS)) expect(exitCodeFor(code)).toBe(e.exit)
    expect(exitCodeFor('ERR_SOMETHING_NEW')).toBe(EXIT.INTERNAL)
    expect(exitCodeFor(undefined)).toBe(EXIT.INTERNAL)
  })

  describe('the control server', () => {
    let home: { dir: string, cleanup: () => Promise<void> }
    let server: ControlServer
    let throwing: string | undefined

    beforeAll(async () => {
      home = await tempHome()
      const fail = async (): Promise<never> => { throw new NodeError(throwing ?? 'ERR_UNTABLED', 'planned failure') }
      const handlers = { status: fail } as unknown as ControlHandlers
      server = new ControlServer({ handlers, logger: silentLogger }, { socketPath: join(home.dir, 'control.sock') })
      await server.start()
    })

    afterAll(async () => {
      await server?.stop()
      await home?.cleanup()
    })

    const get = async (): Promise<{ status: number, body: any }> => await new Promise((resolve, reject) => {
      const req = request({ socketPath: join(home.dir, 'control.sock'), path: '/v1/status' }, res => {
        let text = ''
        res.on('data', (d: Buffer) => { text += d.toString() })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }) })
      })
      req.on('error', reject)
      req.end()
    })

    it('answers each code with the table\'s HTTP status and the code, never a stack', async () => {
      for (const [code, e] of Object.entries(ERRORS)) {
        throwing = code
        const r = await get()
        expect({ code, status: r.status }).toEqual({ code, status: e.http })
        expect(r.body.error.code).toBe(code)
        expect(JSON.stringify(r.body)).not.toContain('    at ')
      }
      throwing = 'ERR_UNTABLED'
      expect((await get()).status).toBe(500)
    })
  })
})
