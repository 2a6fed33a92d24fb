import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cli, tempHome } from '../helpers/cli.js'

const git = 'git -c user.email=t@example.org -c user.name=t'

describe('a job never waits in a pager', () => {
  const temps: Array<{ cleanup: () => Promise<void> }> = []
  afterAll(async () => { for (const t of temps) await t.cleanup() })

  it('git log, long and short, runs to the end with no keypad noise in the log; a job may set its own PAGER', async () => {
    const t = await tempHome()
    temps.push(t)
    const file = join(t.dir, 'pager.yaml')
    // more commits than a terminal has rows: with less as the pager, git log waits for a key
    await writeFile(file, [
      'name: pager',
      'timeout: 2m',
      'stages:',
      '  - steps:',
      `      - git init -q repo && cd repo && for i in $(seq 60); do ${git} commit -q --allow-empty -m "commit $i"; done`,
      '      - cd repo && git log',
      '      - cd repo && git log -1 --oneline',
      `      - 'echo "pagers: $PAGER $GIT_PAGER $MANPAGER"'`,
      ''
    ].join('\n'))
    // with a pager, git log waits for a key until the job's timeout: it would end timed-out, exit 1
    const r = await cli(['run', file, '--json'], { home: t.dir, timeoutMs: 170_000 })
    expect(r.code).toBe(0)
    const job = JSON.parse(r.stdout)
    expect(job.state).toBe('succeeded')
    const fetched = await cli(['fetch', job.log], { home: t.dir })
    expect(fetched.code).toBe(0)
    const cast = fetched.stdout
    expect(cast).toContain('commit 1')
    expect(cast).toContain('pagers: cat cat cat')
    // less's keypad-transmit sequence, JSON-escaped as it is in the recording
    expect(cast).not.toContain('\\u001b[?1h\\u001b=')
    expect(cast).not.toContain('\x1b[?1h\x1b=')

    const own = join(t.dir, 'own.yaml')
    await writeFile(own, 'name: own-pager\nparams: { PAGER: { default: more } }\nstages:\n  - steps:\n      - echo "pager is $PAGER, git $GIT_PAGER"\n')
    const o = await cli(['run', own], { home: t.dir })
    expect(o.code).toBe(0)
    expect(o.stdout).toContain('pager is more, git cat')
  }, 240_000)
})
