/**
 * A node without a sandbox takes only its own jobs (unless allowUnisolated), and never a job
 * asking for `network: none`; the mesh claimer skips what the policy refuses.
 */
import { describe, expect, it } from 'vitest'
import { parseJobFile } from '../../../protocols/job/parse.js'
import { isolationRefusal } from '../../../node/scheduler/isolation.js'
import { MeshClaimer } from '../../../node/scheduler/mesh-claimer.js'
import type { MeshClaimerComponents } from '../../../node/scheduler/mesh-claimer.js'
import { silentLogger } from '../../../store/logger.js'
import type { JobRow } from '../../../node/jobs/types.js'
import type { PeerTable } from '../../../node/mesh/peer-table.js'

function row (submitter: string, extra = ''): JobRow {
  const { spec, problems } = parseJobFile(`name: j\n${extra}stages:\n  - steps:\n      - echo j\n`)
  if (spec == null) throw new Error(`bad test job: ${JSON.stringify(problems)}`)
  return { id: 'job-1', name: 'j', spec, state: 'queued', submitter } as unknown as JobRow
}

describe('isolationRefusal', () => {
  const policy = { isolation: 'none' as const, allowUnisolated: false, self: 'me' }

  it('a sandboxed node refuses nothing on isolation grounds', () => {
    expect(isolationRefusal({ ...policy, isolation: 'sandbox' }, row('other', 'network: none\n'))).toBeUndefined()
  })

  it('without a sandbox: its own jobs yes, other members\' jobs only with allowUnisolated', () => {
    expect(isolationRefusal(policy, row('me'))).toBeUndefined()
    expect(isolationRefusal(policy, row('other'))).toMatch(/allowUnisolated/)
    expect(isolationRefusal({ ...policy, allowUnisolated: true }, row('other'))).toBeUndefined()
  })

  it('Nix jobs are Nix\'s to sandbox: not refused on isolation grounds', () => {
    const nix = { ...row('other'), spec: { ...row('other').spec, stages: [], nix: { drv: '/nix/store/00000000000000000000000000000000-x.drv' } } } as unknown as JobRow
    expect(isolationRefusal(policy, nix)).toBeUndefined()
  })

  it('without a sandbox: never network: none, not even its own', () => {
    expect(isolationRefusal({ ...policy, allowUnisolated: true }, row('me', 'network: none\n'))).toMatch(/network: none/)
  })

  it('the mesh claimer skips what the policy refuses, before anything else', () => {
    const claimer = new MeshClaimer({
      self: 'me',
      lease: {} as unknown as MeshClaimerComponents['lease'],
      peers: { get: () => undefined, view: () => [] } as unknown as PeerTable,
      ownOffer: () => { throw new Error('not consulted when refused') },
      canBuild: () => true,
      refuse: r => isolationRefusal(policy, r),
      isMember: () => true,
      announcement: async () => undefined,
      caughtUp: () => true,
      logger: silentLogger
    })
    expect(claimer.plan(row('other'))).toEqual({ skip: expect.stringMatching(/allowUnisolated/) })
  })
})
