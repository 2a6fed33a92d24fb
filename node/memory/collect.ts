import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let collect: (() => void) | null | undefined

/**
 * One full, compacting collection of the V8 heap. `gc` is what `--expose-gc` gives, without
 * asking whoever starts the daemon for that flag (Node.js 20 refuses it in NODE_OPTIONS): the flag
 * is set for one new context only, whose `gc` collects the whole isolate. A plain full collection
 * frees garbage but leaves the old generation's pages committed wherever a live object remains
 * on them, and after a burst of work that is most of them; compacting moves the survivors
 * together so the emptied pages go back to the OS. Null where the runtime allows neither.
 */
export function fullCollection (): (() => void) | null {
  if (collect !== undefined) return collect
  let gc: unknown = (globalThis as { gc?: unknown }).gc
  try {
    if (typeof gc !== 'function') {
      setFlagsFromString('--expose-gc')
      gc = runInNewContext('gc')
      setFlagsFromString('--no-expose-gc')
    }
  } catch {
    gc = undefined
  }
  if (typeof gc !== 'function') return (collect = null)
  const run = gc as () => void
  collect = () => {
    setFlagsFromString('--compact-on-every-full-gc')
    try {
      run()
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc')
    }
  }
  return collect
}
