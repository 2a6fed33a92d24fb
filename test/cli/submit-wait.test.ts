import { describe, expect, it } from 'vitest'
import { followAndWait } from '../../cli/follow.js'
import { EXIT } from '../../node/error-codes.js'
import type { Backend } from '../../cli/backend.js'
import type { Output } from '../../cli/output.js'
import type { JobView } from '../../node/jobs/types.js'

const ID = 'ab'.repeat(32)

function view (state: JobView['state']): JobView {
  return { id: ID, name: 'cached', state, cacheHit: state === 'succeeded', exitCode: state === 'succeeded' ? 0 : null, events: [] } as unknown as JobView
}

/** a backend that counts what it is asked and answers every wait with `waited` */
function backend (waited: JobView): { b: Backend, asked: string[] } {
  const asked: string[] = []
  const b: Backend = {
    submit: async () => { throw new Error('not used') },
    show: async () => { asked.push('show'); return waited },
    wait: async () => { asked.push('wait'); return waited },
    cancel: async () => { throw new Error('not used') },
    output: async () => { asked.push('output'); return (async function * () {})() }
  }
  return { b, asked }
}

function output (): { io: Output, out: string[] } {
  const out: string[] = []
  return { io: { out: t => { out.push(t) }, err: () => {}, raw: async () => {}, isTTY: false, errIsTTY: false }, out }
}

describe('submit --wait: a submission answered finished (a cache hit) is its own outcome', () => {
  it('reports the answered job without asking the daemon again', async () => {
    const { b, asked } = backend(view('failed'))
    const { io, out } = output()
    const code = await followAndWait(b, ID, io, { follow: false, json: true, submitted: view('succeeded') })
    expect(code).toBe(EXIT.OK)
    expect(asked).toEqual([])
    expect(JSON.parse(out[0])).toMatchObject({ id: ID, state: 'succeeded', cacheHit: true })
  })

  it('waits for a job answered queued, and follows the output of a finished one when asked', async () => {
    const queued = backend(view('succeeded'))
    expect(await followAndWait(queued.b, ID, output().io, { follow: false, json: true, submitted: view('queued') })).toBe(EXIT.OK)
    expect(queued.asked).toContain('wait')
    const followed = backend(view('succeeded'))
    expect(await followAndWait(followed.b, ID, output().io, { follow: true, json: true, submitted: view('succeeded') })).toBe(EXIT.OK)
    expect(followed.asked).toEqual(['output', 'wait'])
  })
})
