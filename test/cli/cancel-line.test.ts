import { describe, expect, it } from 'vitest'
import { cancelLine } from '../../cli/commands/cancel.js'

describe('cancel\'s line', () => {
  const id = 'ab'.repeat(32)
  it('says what happened: cancelled, asked of the node that runs it, or nothing to cancel', () => {
    expect(cancelLine({ name: 'build', id, state: 'cancelled' })).toBe('cit-node: build (abababababab) cancelled')
    const running = cancelLine({ name: 'build', id, state: 'running' })
    expect(running).toMatch(/^cit-node: cancel requested for build \(abababababab\): it stops as soon as the node running it hears/)
    expect(running).not.toMatch(/now running/)
    expect(cancelLine({ name: 'build', id, state: 'succeeded' })).toBe('cit-node: build (abababababab) had already ended (succeeded): nothing to cancel')
  })
})
