import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { linkedSignal, recordId, seal } from '../../protocols/codec/index.js'
import { GOSSIP_MAX_MESSAGE_BYTES, GossipChannel, encodeBundle } from '../../protocols/gossip/index.js'
import { JOIN_PROTOCOL, JoinService } from '../../protocols/join/index.js'
import { LOAD_BUSY_HEARTBEAT_MS, LOAD_CHECK_INTERVAL_MS, forwardReport, idleHeartbeatMs, reachesEveryMember, reportChanged } from '../../protocols/load/index.js'
import { REDIAL_MAX_CONNECTED, createMeshLibp2p, disconnectDisallowed, guardInviteKeys } from '../../protocols/net/index.js'
import { SyncService } from '../../protocols/sync/index.js'
import { LeaseLinks, LeaseService } from '../../protocols/lease/index.js'
import { MetaVoteStore } from './lease-votes.js'
import type { Identity, Signed } from '../../protocols/codec/index.js'
import type { JobRow } from '../jobs/types.js'
import type { LoadReport } from '../../protocols/load/index.js'
import type { MeshLibp2p } from '../../protocols/net/index.js'
import type { JoinReply } from '../../protocols/join/index.js'
import type { SyncMark } from '../../protocols/sync/index.js'
import type { Logger } from '../../store/logger.js'
import type { MetaStore, RecordLog } from '../../store/meta/index.js'
import type { JobService } from '../jobs/job-service.js'
import { reportedPeersToDial } from './dial-choice.js'
import { PartitionHook } from './partition-hook.js'
import { explainListenFailure } from './listen-error.js'
import type { Ingest, Kind } from './ingest.js'
import type { Membership } from './membership.js'
import type { PeerTable } from './peer-table.js'
import type { TrustService } from './trust-service.js'

const T_MARKS = 'sync-marks'
/** at most this many peers learned from load reports are dialed per load check */
const MAX_DIALS_PER_TICK = 4
/**
 * After a trust change, peers no longer allowed are disconnected this much later: the record that
 * cut them off (a revocation, published right after it was added here) reaches them first, so a
 * revoked node learns it was revoked. New connections are refused at once, and what the peer sends
 * meanwhile is refused by role.
 */
export const CUT_OFF_DELAY_MS = 1000

export interface MeshServiceComponents {
  identity: Identity
  meta: MetaStore
  recordLog: RecordLog
  trust: TrustService
  jobs: JobService
  peers: PeerTable
  ingest: Ingest
  logger: Logger
  /** this node's load, labels and state for its next report */
  localReport: () => Omit<LoadReport, 'node' | 'at' | 'seq' | 'addrs'>
}

export interface MeshServiceInit {
  membership: Membership
  listen: string[]
  /** how often the node looks at its load (default LOAD_CHECK_INTERVAL_MS) */
  loadCheckIntervalMs?: number
  /** longest time between two load reports of an idle node while nothing changes (default `idleHeartbeatMs` of the nodes it knows) */
  loadHeartbeatMs?: number
}

/**
 * The node's part in the mesh: the libp2p node (members only), one gossip channel per kind of
 * message, sync on connect, the join protocol for new machines, and the periodic load report.
 * Everything received goes through Ingest; everything this node signs is published here.
 */
export class MeshService {
  libp2p?: MeshLibp2p
  /** the lease protocol (acceptor and claimant), available once started */
  lease?: LeaseService
  private links?: LeaseLinks
  private readonly channels = new Map<Kind, GossipChannel<unknown>>()
  private sync?: SyncService
  private join?: JoinService
  private timer?: ReturnType<typeof setInterval>
  private seq = 0
  /** the last load report sent, and when (this node's clock) */
  private lastReport?: LoadReport
  private lastReportAt = 0
  private readonly c: MeshServiceComponents
  private readonly log: Logger
  /** log sequence → job id for local jobs no peer has received yet */
  private readonly unannounced = new Map<string, JobRow>()
  /** aborted by stop(): dials, reports and publishes in flight end with it */
  private controller?: AbortController
  /** the bundle topic (protocols/gossip/bundle.ts): records signed together, as one message */
  private bundles?: GossipChannel<unknown>
  private readonly onSigned = (s: Signed<unknown>, together?: Array<Signed<unknown>>): void => {
    // records signed together go out with the first of them, once the turn that signed them is
    // over: they are on disk already, and the answer to a cache hit (written in that turn) does
    // not wait behind their encryption and sending to every peer
    if (together != null && together.length > 1) {
      if (together[0] !== s) return
      setImmediate(() => {
        if (this.controller?.signal.aborted !== false) return
        this.publishTogether(together).catch(err => { this.log.error('publishing records failed', { type: s.type, err }) })
      })
      return
    }
    this.publish(s).catch(err => { this.log.error('publishing a record failed', { type: s.type, err }) })
  }

  private cutOff?: ReturnType<typeof setTimeout>
  private readonly onTrustChange = (): void => {
    if (this.cutOff != null) return
    this.cutOff = setTimeout(() => { this.cutOff = undefined; this.disconnectDisallowed() }, CUT_OFF_DELAY_MS)
    this.cutOff.unref?.()
  }

  private disconnectDisallowed (): void {
    if (this.libp2p == null) return
    disconnectDisallowed(this.libp2p, id => this.isAllowed(id)).catch(err => { this.log.warn('closing connections of non-members failed', { err }) })
  }

  constructor (components: MeshServiceComponents, private readonly init: MeshServiceInit) {
    this.c = components
    this.log = components.logger
  }

  get meshId (): string { return this.init.membership.mesh.id }

  private readonly partition = PartitionHook.fromEnv(() => { this.disconnectDisallowed() })

  private isAllowed (peerId: string): boolean {
    if (this.partition.denies(peerId)) return false
    return this.c.trust.isMember(peerId) || this.c.trust.isInviteKey(peerId)
  }

  private topic (kind: Kind): string {
    return `/cit/${this.meshId}/${kind}/1`
  }

  private bundleTopic (): string {
    return `/cit/${this.meshId}/bundle/1`
  }

  async start (): Promise<void> {
    if (this.libp2p != null) return
    this.controller = new AbortController()
    const self = this.c.identity.id
    const bootstrap = [...new Set([...this.init.membership.bootstrap, ...this.c.peers.knownAddrs()])]
      .filter(a => !a.endsWith(`/p2p/${self}`))
    this.partition.start()
    const libp2p = await createMeshLibp2p({
      privateKey: this.c.identity.privateKey,
      listen: this.init.listen,
      bootstrap,
      isAllowed: id => this.isAllowed(id),
      logger: this.log
    }).catch(async (err: unknown) => { throw (await explainListenFailure(err)) ?? err })
    this.libp2p = libp2p
    try {
      for (const kind of ['trust', 'job', 'event', 'load'] as const) {
        const channel = new GossipChannel<unknown>({ pubsub: libp2p.services.pubsub, logger: this.log }, {
          topic: this.topic(kind),
          validate: (bytes, _from, { via }) => {
            const v = this.c.ingest.check(bytes, kind, { live: true })
            if (!v.ok) return { ok: false, reason: v.reason, ignore: v.ignore }
            // a load report its author sent to every member itself needs no forwarding
            if (v.value.kind === 'load' && !forwardReport(v.value.signed.payload, via)) return { ok: true, value: v.value, forward: false }
            return { ok: true, value: v.value }
          },
          onMessage: async value => { await this.c.ingest.apply(value as never) }
        })
        channel.start()
        this.channels.set(kind, channel)
      }
      this.bundles = new GossipChannel<unknown>({ pubsub: libp2p.services.pubsub, logger: this.log }, {
        topic: this.bundleTopic(),
        validate: bytes => {
          const v = this.c.ingest.checkBundle(bytes, { live: true })
          return v.ok ? { ok: true, value: v.value } : { ok: false, reason: v.reason, ignore: v.ignore }
        },
        onMessage: async value => { await this.c.ingest.apply(value as never) }
      })
      this.bundles.start()
      this.sync = new SyncService({
        libp2p,
        log: {
          logId: this.c.recordLog.logId,
          readAfter: async (after: number, limit: number, maxBytes: number) => await this.serveLog(after, limit, maxBytes)
        },
        ingest: async bytes => { await this.c.ingest.fromSync(bytes) },
        marks: {
          get: async peer => await this.c.meta.table<SyncMark>(T_MARKS).get(peer),
          set: async (peer, mark) => { await this.c.meta.batch([{ type: 'put', table: T_MARKS, key: peer, value: mark }]) }
        },
        isAllowed: id => this.c.trust.isMember(id) && !this.partition.denies(id),
        logger: this.log
      })
      await this.sync.start()
      this.join = new JoinService({
        libp2p,
        logger: this.log,
        isInviteKey: id => this.c.trust.isInviteKey(id),
        onEnroll: async (bytes, from) => await this.onEnroll(bytes, from)
      })
      await this.join.start()
      await this.startLease(libp2p)
      for await (const row of this.c.jobs.store.all()) {
        if (!row.announced) this.unannounced.set(row.id, row)
      }
      this.c.jobs.on('signed', this.onSigned)
      this.c.trust.on('change', this.onTrustChange)
      this.timer = setInterval(() => { this.reportInBackground(false) }, this.init.loadCheckIntervalMs ?? LOAD_CHECK_INTERVAL_MS)
      this.reportInBackground(true)
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  /**
   * An invite key speaks the join protocol and nothing else: call once every service of the node
   * (this one's, and the fetch, bulk fetch and attach services started after it) has registered
   * its protocols; a protocol registered later is not guarded.
   */
  guardInviteKeys (): string[] {
    if (this.libp2p == null) return []
    return guardInviteKeys(this.libp2p, {
      isMember: id => this.c.trust.isMember(id),
      open: [JOIN_PROTOCOL],
      onRefused: (peer, protocol) => { this.c.ingest.drop('invite-key-stream', `${peer} ${protocol}`) }
    })
  }

  async stop (): Promise<void> {
    this.controller?.abort(new Error('the mesh service stopped'))
    this.partition.stop()
    if (this.timer != null) clearInterval(this.timer)
    this.timer = undefined
    this.c.jobs.off('signed', this.onSigned)
    this.c.trust.off('change', this.onTrustChange)
    if (this.cutOff != null) clearTimeout(this.cutOff)
    this.cutOff = undefined
    this.lease?.stop()
    this.lease = undefined
    await this.links?.stop()
    this.links = undefined
    await this.join?.stop()
    await this.sync?.stop()
    for (const ch of this.channels.values()) ch.stop()
    this.channels.clear()
    this.bundles?.stop()
    this.bundles = undefined
    const libp2p = this.libp2p
    this.libp2p = undefined
    await libp2p?.stop()
  }

  /** the lease protocol over one long-lived stream per member (`/cit/lease/1.0.0`) */
  private async startLease (libp2p: MeshLibp2p): Promise<void> {
    this.links = new LeaseLinks({ libp2p, isAllowed: id => this.c.trust.isMember(id) && !this.partition.denies(id), logger: this.log })
    this.lease = new LeaseService({
      identity: this.c.identity,
      mesh: this.meshId,
      transport: this.links,
      votes: new MetaVoteStore(this.c.meta),
      isBuilder: id => this.c.trust.hasRole(id, 'build'),
      lookup: async (job, ann) => await this.acceptorsOf(job, ann),
      logger: this.log
    })
    await this.links.start(this.c.identity.id)
    this.lease.start()
  }

  /** a job's acceptors; a claim may bring the announcement of a job this node has not heard of yet */
  private async acceptorsOf (job: string, ann?: Uint8Array): Promise<readonly string[] | undefined> {
    const row = await this.c.jobs.get(job)
    if (row != null || ann == null) return row?.acceptors
    const v = this.c.ingest.check(ann, 'job')
    if (!v.ok || v.value.kind !== 'job' || v.value.signed.hash !== job) return undefined
    await this.c.ingest.apply(v.value)
    return (await this.c.jobs.get(job))?.acceptors
  }

  /** this node's addresses, each with its /p2p/ suffix */
  addrs (): string[] {
    const libp2p = this.libp2p
    if (libp2p == null) return []
    return libp2p.getMultiaddrs().map(a => a.toString())
  }

  /** members other than this node that the trust records know */
  otherMembers (): number {
    return this.c.trust.state.members().filter(m => m.keyId !== this.c.identity.id).length
  }

  /** whether this daemon has pulled what some member holds at least once since it started */
  caughtUp (): boolean {
    return (this.sync?.stats().pulled.sessions ?? 0) > 0
  }

  connectedPeers (): string[] {
    return this.libp2p?.getPeers().map(p => p.toString()) ?? []
  }

  stats (): Record<string, unknown> {
    return {
      ingest: this.c.ingest.stats(),
      gossip: Object.fromEntries([...this.channels, ...(this.bundles != null ? [['bundle', this.bundles] as const] : [])].map(([k, ch]) => [k, ch.stats()])),
      sync: this.sync?.stats(),
      lease: this.lease?.stats()
    }
  }

  /** Publish a record this node signed; a job no peer received stays "not yet announced". */
  async publish (signed: Signed<unknown>): Promise<number> {
    const kind: Kind = signed.type === 'job' ? 'job' : signed.type === 'event' ? 'event' : signed.type === 'load' ? 'load' : 'trust'
    const channel = this.channels.get(kind)
    if (channel == null) return 0
    const sent = await this.sendOn(channel, signed.bytes, signed.type)
    if (signed.type === 'job') await this.noteAnnounced(signed.hash, sent)
    return sent
  }

  /**
   * Publish records this node signed together (a job's announcement first, then its events) as
   * one bundle when every peer that takes job announcements takes bundles too; otherwise, or when
   * the bundle would be too large for one message, one by one as before.
   */
  async publishTogether (records: Array<Signed<unknown>>): Promise<number> {
    const bundles = this.bundles
    const jobs = this.channels.get('job')
    const [first] = records
    if (bundles != null && jobs != null && first?.type === 'job' && this.everyoneTakesBundles(jobs, bundles)) {
      const bytes = encodeBundle(records.map(r => r.bytes))
      if (bytes.byteLength <= GOSSIP_MAX_MESSAGE_BYTES) {
        const sent = await this.sendOn(bundles, bytes, 'bundle')
        await this.noteAnnounced(first.hash, sent)
        return sent
      }
    }
    let sent = 0
    for (const r of records) sent = Math.max(sent, await this.publish(r))
    return sent
  }

  /** publish `bytes` on `channel`; the peers it reached (0 when the publish failed, which is logged) */
  private async sendOn (channel: GossipChannel<unknown>, bytes: Uint8Array, type: string): Promise<number> {
    try {
      return await channel.publish(bytes)
    } catch (err) {
      this.log.warn('publish failed', { type, err })
      return 0
    }
  }

  /** remember whether a job's announcement reached anyone (an unannounced one is published again later) */
  private async noteAnnounced (job: string, sent: number): Promise<void> {
    const row = await this.c.jobs.get(job)
    if (row != null) await this.setAnnounced(row, sent > 0)
  }

  /** whether every peer subscribed to job announcements is subscribed to bundles (a member running an older version is not) */
  private everyoneTakesBundles (jobs: GossipChannel<unknown>, bundles: GossipChannel<unknown>): boolean {
    const takers = new Set(bundles.subscribers())
    return takers.size > 0 && jobs.subscribers().every(p => takers.has(p))
  }

  private async setAnnounced (row: JobRow, announced: boolean): Promise<void> {
    if (announced) this.unannounced.delete(row.id)
    else this.unannounced.set(row.id, row)
    if (row.announced === announced) return
    row.announced = announced
    await this.c.jobs.store.update(row)
    this.log.info(announced ? 'job announced' : 'job queued locally: no peer reached', { job: row.id })
  }

  /** serve the record log to a syncing peer; a local job a peer pulls counts as announced */
  private async serveLog (after: number, limit: number, maxBytes: number): Promise<{ items: Array<{ seq: number, bytes: Uint8Array }>, lastSeq: number }> {
    const page = await this.c.recordLog.readAfter(after, limit, maxBytes)
    if (this.unannounced.size > 0) {
      for (const item of page.items) {
        const row = this.unannounced.get(recordId(item.bytes))
        if (row != null) await this.setAnnounced(row, true)
      }
    }
    return page
  }

  /** a new machine hands over its enrollment: keep it, spread it, and give it the mesh's records */
  private async onEnroll (bytes: Uint8Array, from: string): Promise<JoinReply> {
    const v = this.c.ingest.check(bytes, 'trust')
    if (!v.ok || v.value.kind !== 'trust' || v.value.signed.type !== 'enroll' || v.value.signed.signer !== from) {
      return { ok: false, reason: v.ok ? 'not-an-enrollment' : v.reason, records: [], addrs: [] }
    }
    const result = await this.c.trust.add(bytes)
    if (!result.accepted) return { ok: false, reason: result.reason ?? 'refused', records: [], addrs: [] }
    await this.channels.get('trust')?.publish(bytes).catch(() => 0)
    return {
      ok: true,
      records: this.c.trust.state.records(),
      addrs: [...new Set([...this.addrs(), ...this.c.peers.knownAddrs()])].slice(0, 64)
    }
  }

  private reportInBackground (always: boolean): void {
    this.report(always).catch(err => { if (this.controller?.signal.aborted !== true) this.log.warn('load report failed', { err }) })
  }

  /** send this node's load report now (after a state change, before leaving) */
  async reportNow (): Promise<void> {
    await this.report(true)
  }

  /** how many load reports this node has signed since it started */
  get reportsSent (): number { return this.seq }

  /**
   * Sign and gossip this node's load report if `always`, if it changed since the last one sent
   * (`reportChanged`: noise is no change) or if the heartbeat is due; then dial members heard of
   * but not connected. An idle mesh sends one report per node per heartbeat, not per check.
   */
  private async report (always: boolean): Promise<void> {
    const libp2p = this.libp2p
    if (libp2p == null) return
    const now = Date.now()
    const current = { ...this.c.localReport(), node: this.c.identity.id, addrs: this.addrs().slice(0, 16), mesh: this.meshId }
    // a node running jobs reports at every check: its peers take its silence for a crash (EXECUTOR_SILENT_MS);
    // an idle one less often the more nodes it knows, so the mesh's idle traffic does not grow with N
    const heartbeat = current.running.length > 0 ? LOAD_BUSY_HEARTBEAT_MS : (this.init.loadHeartbeatMs ?? idleHeartbeatMs(this.c.peers.size))
    const due = now - this.lastReportAt >= heartbeat
    if (always || due || reportChanged(this.lastReport, current)) {
      const report: LoadReport = { ...current, at: now, seq: ++this.seq, ...(this.reachesEveryMember(libp2p) ? { direct: true } : {}) }
      this.lastReport = report
      this.lastReportAt = now
      await this.c.peers.update(report)
      await this.publish(seal(this.c.identity, 'load', report))
    }
    await this.dialKnown(libp2p)
  }

  /** whether a load report published now goes straight to every member that has not left */
  private reachesEveryMember (libp2p: MeshLibp2p): boolean {
    const subscribers = new Set(libp2p.services.pubsub.getSubscribers(this.topic('load')).map(p => p.toString()))
    const members = this.c.trust.state.members().map(m => m.keyId)
    return reachesEveryMember(this.c.identity.id, members, subscribers, id => this.c.peers.get(id)?.report.state === 'gone')
  }

  private async dialKnown (libp2p: MeshLibp2p): Promise<void> {
    const connected = new Set(libp2p.getPeers().map(p => p.toString()))
    const chosen = reportedPeersToDial(this.c.peers.view(this.c.identity.id), connected, id => this.c.trust.isMember(id), {
      maxDials: MAX_DIALS_PER_TICK,
      maxConnected: REDIAL_MAX_CONNECTED
    })
    for (const view of chosen) {
      try {
        const addrs = view.addrs.map(a => multiaddr(a))
        await libp2p.peerStore.merge(peerIdFromString(view.peerId), { multiaddrs: addrs })
        const deadline = linkedSignal([this.controller?.signal ?? AbortSignal.abort()], 5000)
        libp2p.dial(peerIdFromString(view.peerId), { signal: deadline.signal }).catch(err => { this.log.debug('dial of a reported peer failed', { peer: view.peerId, err }) }).finally(deadline.dispose)
      } catch (err) {
        this.log.debug('cannot dial a reported peer', { peer: view.peerId, err })
      }
    }
  }
}
