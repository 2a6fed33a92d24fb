import type { VoteRecord, VoteStore } from '../../protocols/lease/index.js'
import type { MetaOp, MetaStore } from '../../store/meta/index.js'

const T_VOTES = 'lease-votes'

interface Waiting { op: MetaOp, resolve: () => void, reject: (err: unknown) => void }

/**
 * An acceptor's votes in LevelDB. Each write is synced before it resolves: a grant or vote is
 * answered only after it, so a restarted acceptor (even after a power loss) never contradicts
 * what it said. Renewals are not written (see LeaseAcceptor: a record read back counts as
 * renewed at that moment).
 *
 * Group commit: puts that arrive while a synced batch is being written wait for it and then go
 * out together in the next one, so concurrent claims and finishes (of different jobs: one job's
 * requests are serialised by the acceptor) cost one fsync per batch instead of one each. No put
 * resolves before the batch holding it is synced.
 */
export class MetaVoteStore implements VoteStore {
  private queue: Waiting[] = []
  private writing = false

  constructor (private readonly meta: MetaStore) {}

  async get (job: string): Promise<VoteRecord | undefined> {
    // a record queued for the next batch is what this acceptor said last: read it back, not the older one on disk
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const op = this.queue[i].op
      if (op.type === 'put' && op.key === job) return { ...(op.value as VoteRecord) }
    }
    return await this.meta.table<VoteRecord>(T_VOTES).get(job)
  }

  async put (job: string, record: VoteRecord): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ op: { type: 'put', table: T_VOTES, key: job, value: record }, resolve, reject })
      if (!this.writing) void this.flush()
    })
  }

  /** write what is queued as one synced batch, then whatever queued meanwhile, until none is left */
  private async flush (): Promise<void> {
    this.writing = true
    try {
      while (this.queue.length > 0) {
        const group = this.queue
        this.queue = []
        try {
          await this.meta.batch(group.map(w => w.op), { sync: true })
          for (const w of group) w.resolve()
        } catch (err) {
          for (const w of group) w.reject(err)
        }
      }
    } finally {
      this.writing = false
    }
  }
}
