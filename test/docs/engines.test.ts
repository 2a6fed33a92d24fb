import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

type Version = [number, number, number]

function version (text: string): Version {
  const [a = 0, b = 0, c = 0] = text.replace(/^v/, '').split('.').map(Number)
  return [a, b, c]
}

function compare (x: Version, y: Version): number {
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]
}

/** whether `v` satisfies an engines range made of `||`, `>=` and `^` (the forms npm packages use here) */
export function satisfies (v: Version, range: string): boolean {
  return range.split('||').some(alternative => {
    const parts = alternative.trim().replace(/(>=|\^)\s+/g, '$1').split(/\s+/).filter(p => p !== '')
    return parts.every(part => {
      if (part.startsWith('>=')) return compare(v, version(part.slice(2))) >= 0
      if (part.startsWith('^')) {
        const base = version(part.slice(1))
        return v[0] === base[0] && compare(v, base) >= 0
      }
      throw new Error(`an engines range this check does not know: ${JSON.stringify(range)}`)
    })
  })
}

describe('engines and dependencies agree', () => {
  it('every installed package runs on the oldest Node.js cit-node admits and on the one tested', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
    const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8'))
    const oldest = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(pkg.engines.node)?.[1]
    expect(oldest, 'engines.node is a ">=" range').toBeDefined()
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
    expect(readme).toContain(`Node.js ${oldest as string} or later`)
    const refused: string[] = []
    for (const [path, entry] of Object.entries(lock.packages as Record<string, { engines?: { node?: string }, dev?: boolean }>)) {
      const range = entry.engines?.node
      if (path === '' || range == null) continue
      // what users install must run on every version admitted; the tools of development on the tested one
      if (!entry.dev && !satisfies(version(oldest!), range)) refused.push(`${path} wants node ${range}`)
      if (!satisfies(version(process.version), range)) refused.push(`${path} wants node ${range} (tested on ${process.version})`)
    }
    expect(refused).toEqual([])
  })
})
