/**
 * Maps between dotted paths and places in a parsed YAML document, so problems
 * found in the value can name the line they are on.
 */
import { isAlias, isMap, isScalar, isSeq } from 'yaml'
import type { Document, LineCounter, Node as YamlNode } from 'yaml'
import type { PathSegment } from './values.js'

export interface Position {
  line: number
  column: number
}

function resolved (node: unknown, doc: Document): unknown {
  // an alias stands for its anchor's node; aliases of aliases are not allowed in YAML
  return isAlias(node) ? node.resolve(doc) : node
}

function keyOf (key: unknown): string | undefined {
  if (!isScalar(key)) return undefined
  return String(key.value)
}

function start (node: unknown): number | undefined {
  const range = (node as YamlNode | null | undefined)?.range
  return Array.isArray(range) ? range[0] : undefined
}

/**
 * The offset of the field named by `segments`: its key when it is a mapping
 * entry, its item when it is a list entry, or the nearest enclosing node that
 * exists (a missing required field points at its parent).
 */
export function offsetOf (doc: Document, segments: readonly PathSegment[]): number | undefined {
  let node: unknown = doc.contents
  let best = start(node)
  for (const segment of segments) {
    node = resolved(node, doc)
    if (isMap(node)) {
      const pair = node.items.find((p) => keyOf(p.key) === String(segment))
      if (pair === undefined) break
      best = start(pair.key) ?? best
      node = pair.value
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment]
      if (node === undefined) break
      best = start(node) ?? best
    } else {
      break
    }
  }
  return best
}

/**
 * Every mapping key that repeats an earlier key of the same mapping, with its
 * path and offset. yaml's own `uniqueKeys` check compares each key with every
 * earlier one: 100,000 keys took minutes. This is one Set per mapping.
 */
export function duplicateKeys (doc: Document): Array<{ segments: PathSegment[], offset: number }> {
  interface Entry { node: unknown, parent?: Entry, key?: PathSegment }
  const pathOf = (entry: Entry, last: PathSegment): PathSegment[] => {
    const segments = [last]
    for (let e: Entry | undefined = entry; e?.key !== undefined; e = e.parent) segments.unshift(e.key)
    return segments
  }
  const found: Array<{ segments: PathSegment[], offset: number }> = []
  // bounded: the CST depth check ran before the document was composed; aliases are not followed
  const stack: Entry[] = [{ node: doc.contents }]
  while (stack.length > 0) {
    const entry = stack.pop() as Entry
    const node = entry.node
    if (isMap(node)) {
      const seen = new Set<string>()
      for (const pair of node.items) {
        const key = keyOf(pair.key) ?? '?'
        if (seen.has(key)) found.push({ segments: pathOf(entry, key), offset: start(pair.key) ?? 0 })
        seen.add(key)
        if (isMap(pair.value) || isSeq(pair.value)) stack.push({ node: pair.value, parent: entry, key })
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        if (isMap(item) || isSeq(item)) stack.push({ node: item, parent: entry, key: i })
      })
    }
  }
  return found.sort((a, b) => a.offset - b.offset)
}

/** 1-based line and column of an offset */
export function positionOf (lineCounter: LineCounter, offset: number): Position {
  const { line, col } = lineCounter.linePos(offset)
  return { line, column: col }
}

/** 1-based line and column of an offset, for text yaml did not parse (JSON errors) */
export function positionInText (text: string, offset: number): Position {
  let line = 1
  let lineStart = 0
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++
    lineStart = i + 1
  }
  return { line, column: offset - lineStart + 1 }
}
