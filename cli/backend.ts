import type { ControlClient } from './client.js'
import type { ControlHandlers } from '../node/control/types.js'
import type { OutputStream, SubmitBody } from '../node/control/types.js'
import type { JobView } from '../node/jobs/types.js'

/** What `run` and `submit` need: a daemon over its socket, or a node in this process. */
export interface Backend {
  submit: (body: SubmitBody) => Promise<JobView>
  show: (ref: string) => Promise<JobView>
  wait: (ref: string, signal?: AbortSignal) => Promise<JobView>
  cancel: (ref: string) => Promise<JobView>
  output: (ref: string, follow: boolean, signal?: AbortSignal) => Promise<AsyncIterable<Uint8Array | string>>
}

export function clientBackend (client: ControlClient): Backend {
  return client
}

/** Turn the daemon's replay-then-follow output into one async iterable. */
async function * drain (out: OutputStream, signal?: AbortSignal): AsyncGenerator<Uint8Array | string> {
  yield * out.replay
  if (out.follow == null) return
  const queue: Array<Uint8Array | string> = []
  let ended = false
  let wake: (() => void) | undefined
  const unsubscribe = out.follow(chunk => { queue.push(chunk); wake?.() }, () => { ended = true; wake?.() })
  const onAbort = (): void => { ended = true; wake?.() }
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    while (true) {
      while (queue.length > 0) yield queue.shift()!
      if (ended) return
      await new Promise<void>(resolve => { wake = resolve })
      wake = undefined
    }
  } finally {
    unsubscribe()
    signal?.removeEventListener('abort', onAbort)
  }
}

export function nodeBackend (node: ControlHandlers): Backend {
  return {
    submit: async body => await node.submit(body),
    show: async ref => await node.show(ref),
    wait: async (ref, signal) => await node.wait(ref, signal ?? new AbortController().signal),
    cancel: async ref => await node.cancel(ref),
    output: async (ref, follow, signal) => drain(await node.output(ref, follow), signal)
  }
}
