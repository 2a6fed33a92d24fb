import type { VoteRecord, VoteStore } from '../../protocols/lease/index.js'
import type { MetaStore } from '../../store/meta/index.js'

const T_VOTES = 'lease-votes'

/**
 * An acceptor's votes in LevelDB. Each write is synced before it resolves: a grant or vote is
 * answered only after it, so a restarted acceptor (even after a power loss) never contradicts
 * what it said. Renewals are not written (see LeaseAcceptor: a record read back counts as
 * renewed at that moment).
 */
export class MetaVoteStore implements VoteStore {
  constructor (private readonly meta: MetaStore) {}

  async get (job: string): Promise<VoteRecord | undefined> {
    return await this.meta.table<VoteRecord>(T_VOTES).get(job)
  }

  async put (job: string, record: VoteRecord): Promise<void> {
    await this.meta.batch([{ type: 'put', table: T_VOTES, key: job, value: record }], { sync: true })
  }
}
