import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

/** the compiled helper, built by `npm run build:native` (run by `npm ci`) beside its source */
const ADDON = 'native/build/Release/malloc_trim.node'

interface Addon { trim: () => boolean, supported: () => boolean }

let loaded: (() => boolean) | null | undefined

/**
 * glibc's `malloc_trim(0)`, through the small native helper in `native/`: it hands the free pages
 * in the middle of malloc's heaps back to the OS, which `free()` never does (it only shrinks a
 * heap from its top). Null when the helper was not built (a package without its sources, no
 * compiler at install time) or the C library is not glibc: the daemon then runs without it.
 */
export function mallocTrim (): (() => boolean) | null {
  if (loaded !== undefined) return loaded
  // from the sources (node/memory) and from the build (dist/node/memory), the helper is at the same place in the sources
  const candidates = [join(import.meta.dirname, ADDON), join(import.meta.dirname, '../../../node/memory', ADDON)]
  const path = candidates.find(p => existsSync(p))
  if (path == null) return (loaded = null)
  try {
    const addon = createRequire(import.meta.url)(path) as Addon
    loaded = addon.supported() ? addon.trim : null
  } catch {
    loaded = null
  }
  return loaded
}
