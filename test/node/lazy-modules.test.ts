/**
 * A daemon loads what it needs to gossip and claim at start, and the rest when first used: the
 * YAML parser on the first job file it reads, node-pty on the first job it runs, the HTTP face
 * when it is switched on. This walks the static import graph of the daemon's entry (what Node.js
 * loads before any code runs; `await import()` is not followed) and fails when an eager import
 * brings one of them back.
 */
import { readFileSync, existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const ROOT = resolve(import.meta.dirname, '../..')

/** bare package names and relative files reached from `entry` by static, non-type imports */
function staticGraph (entry: string): { files: Set<string>, packages: Set<string> } {
  const files = new Set<string>()
  const packages = new Set<string>()
  const todo = [entry]
  while (todo.length > 0) {
    const file = todo.pop()!
    if (files.has(file)) continue
    files.add(file)
    const text = readFileSync(file, 'utf8')
    // `import x from 'y'`, `import 'y'`, `export … from 'y'`, spanning lines; `import type` and `export type` carry nothing at run time
    for (const m of text.matchAll(/^(import|export)\s+(type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gms)) {
      if (m[2] != null) continue
      const spec = m[3]
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'))
        if (existsSync(target)) todo.push(target)
      } else if (!spec.startsWith('node:')) {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0])
      }
    }
  }
  return { files, packages }
}

describe('modules a daemon loads at start', () => {
  const graph = staticGraph(resolve(ROOT, 'node/cit-node.ts'))

  it('reaches the mesh and the stores (the walk works)', () => {
    expect(graph.packages).toContain('@libp2p/gossipsub')
    expect(graph.packages).toContain('level')
    expect(graph.files.size).toBeGreaterThan(50)
  })

  it('leaves out the YAML parser, node-pty, the HTTP framework and its parts', () => {
    for (const lazy of ['yaml', 'node-pty', 'fastify', '@fastify/swagger', '@fastify/websocket']) expect(graph.packages, lazy).not.toContain(lazy)
  })
})
