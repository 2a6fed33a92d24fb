import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const LIFECYCLE = resolve(import.meta.dirname, '../../dist/node/lifecycle.js')

/** run `body` in a fresh node process with the crash handlers installed; its log lines and exit status */
function crash (body: string): { status: number | null, lines: string[], stopped: boolean } {
  const script = `
    import { installCrashHandlers } from ${JSON.stringify(LIFECYCLE)}
    const lines = []
    const log = { error: (msg, f) => { lines.push(msg + ': ' + String(f?.err?.message ?? f?.err)) }, warn () {}, info () {}, debug () {} }
    installCrashHandlers(() => log, async () => { lines.push('stopped') }, code => { console.log(JSON.stringify(lines)); process.exit(code) })
    ${body}
  `
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 })
  const lines = JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]') as string[]
  return { status: r.status, lines, stopped: lines.includes('stopped') }
}

describe('the daemon\'s crash handlers', () => {
  it('an unhandled rejection is logged with its cause, the daemon stops, and the process exits 70', () => {
    const r = crash('Promise.reject(new Error("a database write failed"))')
    expect(r.status).toBe(70)
    expect(r.lines).toContain('unhandled rejection: the daemon stops: a database write failed')
    expect(r.stopped).toBe(true)
  })

  it('an uncaught exception in a callback likewise', () => {
    const r = crash('setTimeout(() => { throw new Error("a callback threw") }, 10)')
    expect(r.status).toBe(70)
    expect(r.lines).toContain('uncaught exception: the daemon stops: a callback threw')
  })
})
