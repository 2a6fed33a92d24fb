/**
 * Guards against YAML too deep or too busy to handle safely. yaml builds its
 * tree recursively: a document nested ~10,000 levels deep can exhaust the stack,
 * and near the stack's end V8 has been seen to die outright (a fatal out-of-memory
 * in its regexp compiler) rather than throw. So depth is bounded three times:
 * - `prescan`: yaml's lexer (iterative, fast) with a conservative count, stopping
 *   at the first offending token, before any parsing (it also counts values);
 * - `cstDepth`: the exact depth of yaml's concrete syntax tree, before composing;
 * - `valueDepthProblem`: the exact depth of the final value (aliases can deepen it).
 */
import { CST, Lexer } from 'yaml'
import { MAX_DEPTH } from './constants.js'
import { isPlainObject } from './check.js'
import type { PathSegment } from './values.js'

// tokens the lexer emits that stand for no source text
const CONTROL_TOKENS = new Set([CST.DOCUMENT, CST.FLOW_END, CST.SCALAR])
const LAYOUT_TYPES = new Set(['space', 'newline', 'comment', 'byte-order-mark', 'doc-mode', 'doc-start', 'doc-end', 'directive-line'])

export interface PrescanLimits {
  /** most nesting levels (as over-counted here) */
  depth: number
  /** most values: scalars, aliases, flow collections and block list items */
  values: number
}

/** which limit the text went over first, and where */
export interface PrescanExcess {
  limit: 'depth' | 'values'
  offset: number
}

const VALUE_TYPES = new Set(['single-quoted-scalar', 'double-quoted-scalar', 'alias', 'flow-map-start', 'flow-seq-start', 'seq-item-ind'])

/**
 * Scans the text with yaml's lexer and stops at the first token past a limit.
 * The depth over-counts (a line like `- a: b` counts up to four levels), never
 * under: every open block collection's column stays on the stack until a token
 * at a lower column closes it, and every open flow collection is counted.
 * The value count bounds the work of yaml's parser, which costs seconds on a
 * megabyte of tiny collections (`- {}` repeated) that no valid job file has.
 */
export function prescan (text: string, limits: PrescanLimits): PrescanExcess | undefined {
  const columns: number[] = []
  let flowDepth = 0
  let values = 0
  let offset = 0
  let column = 0
  // a block scalar's body comes as the token after the SCALAR marker that follows its header
  let blockScalar: 'none' | 'header' | 'body' = 'none'
  for (const token of new Lexer().lex(text)) {
    if (CONTROL_TOKENS.has(token)) {
      if (token === CST.SCALAR) {
        // every plain scalar and block scalar body is announced by this marker
        if (++values > limits.values) return { limit: 'values', offset }
        if (blockScalar === 'header') blockScalar = 'body'
      }
      continue
    }
    const type = CST.tokenType(token)
    const start = offset
    const startColumn = column
    offset += token.length
    const newline = token.lastIndexOf('\n')
    column = newline === -1 ? column + token.length : token.length - newline - 1
    if (type === 'block-scalar-header') {
      blockScalar = 'header'
      continue
    }
    if (blockScalar === 'body') {
      // text, whatever it looks like
      blockScalar = 'none'
      continue
    }
    if (type === 'flow-map-end' || type === 'flow-seq-end') {
      flowDepth = Math.max(0, flowDepth - 1)
      continue
    }
    // a plain scalar's text has no type (null): it counts, for its column, like any other token
    if (type !== null && type !== undefined && LAYOUT_TYPES.has(type)) continue
    if (type !== null && type !== undefined && VALUE_TYPES.has(type) && ++values > limits.values) {
      return { limit: 'values', offset: start }
    }
    const flowStart = type === 'flow-map-start' || type === 'flow-seq-start'
    if (flowDepth === 0) {
      while (columns.length > 0 && columns[columns.length - 1] > startColumn) columns.pop()
      // a flow collection is counted by flowDepth, not as a block column
      if (!flowStart && (columns.length === 0 || columns[columns.length - 1] !== startColumn)) columns.push(startColumn)
    }
    if (flowStart) flowDepth++
    if (columns.length + flowDepth > limits.depth) return { limit: 'depth', offset: start }
  }
  return undefined
}

type CstNode = CST.Token | CST.Document

/** The depth of the deepest collection in yaml's CST, walked without recursion; stops counting past `limit`. */
export function cstDepth (tokens: readonly CST.Token[], limit: number): number {
  let deepest = 0
  const stack: Array<[CstNode, number]> = tokens.map((token) => [token, 0])
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [CstNode, number]
    if (depth > deepest) deepest = depth
    if (deepest > limit) return deepest
    if (node.type === 'document' && node.value !== undefined) stack.push([node.value, depth])
    if (node.type === 'block-map' || node.type === 'block-seq' || node.type === 'flow-collection') {
      for (const item of node.items) {
        const parts: unknown[] = [(item as { key?: unknown }).key, item.value]
        for (const part of parts) {
          if (part !== null && typeof part === 'object' && 'type' in part) stack.push([part as CstNode, depth + 1])
        }
      }
    }
  }
  return deepest
}

function isContainer (value: unknown): boolean {
  return Array.isArray(value) || isPlainObject(value)
}

// a valid job file has a few hundred collections; this only bounds work on shared (aliased) subtrees
const MAX_VALUES_WALKED = 1_000_000

/**
 * Where the value nests deeper than MAX_DEPTH, or undefined when it does not.
 * Walked without recursion; a cyclic value (a YAML alias inside its own anchor)
 * is caught as too deep. The root is depth 1.
 */
export function valueDepthProblem (value: unknown): { segments: PathSegment[], message: string } | undefined {
  // parent links instead of a path per value: paths are only built for the one problem reported
  interface Entry { value: unknown, depth: number, parent?: Entry, key?: PathSegment }
  const stack: Entry[] = [{ value, depth: 1 }]
  let walked = 0
  while (stack.length > 0) {
    const entry = stack.pop() as Entry
    if (++walked > MAX_VALUES_WALKED) return { segments: [], message: `expands to more than ${MAX_VALUES_WALKED} lists and mappings` }
    if (entry.depth > MAX_DEPTH) {
      const segments: PathSegment[] = []
      for (let e: Entry | undefined = entry; e?.key !== undefined; e = e.parent) segments.unshift(e.key)
      return { segments, message: `nested deeper than ${MAX_DEPTH} levels` }
    }
    const node = entry.value
    if (Array.isArray(node)) {
      node.forEach((child, i) => {
        if (isContainer(child)) stack.push({ value: child, depth: entry.depth + 1, parent: entry, key: i })
      })
    } else if (isPlainObject(node)) {
      for (const key of Object.keys(node)) {
        const child = node[key]
        if (isContainer(child)) stack.push({ value: child, depth: entry.depth + 1, parent: entry, key })
      }
    }
  }
  return undefined
}
