import { randomBytes } from 'node:crypto'
import { LeaseManager, leaseSelector, leaseValidator } from '../../../protocols/lease/index.js'
import { addrOf, TestMesh, waitFor } from '../net/helpers.js'
import type { Identity } from '../../../protocols/codec/index.js'
import type { LeaseManagerComponents, LeaseManagerInit } from '../../../protocols/lease/index.js'
import type { MeshLibp2p } from '../../../protocols/net/index.js'

/** one node of a lease test mesh */
export interface LeaseNode {
  identity: Identity
  node: MeshLibp2p
  leases: LeaseManager
}

/** a fresh random job id */
export function newJob (): string {
  return randomBytes(32).toString('hex')
}

/** the size of a node's kad-dht routing table (on the class, not on the interface it is typed as) */
export function tableSize (node: MeshLibp2p): number {
  return (node.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
}

/**
 * Real libp2p nodes on 127.0.0.1 with the lease validator and selector installed, each with a
 * started LeaseManager. Builders are the identities made with `builder: true` (the default).
 */
export class LeaseMesh {
  readonly mesh = new TestMesh()
  readonly builders = new Set<string>()
  readonly nodes: LeaseNode[] = []
  private readonly managers: LeaseManager[] = []

  readonly isBuilder = (peer: string): boolean => this.builders.has(peer)

  /** start `count` nodes (all bootstrapped to the first) and wait until every routing table is full */
  async start (count: number, init: LeaseManagerInit = {}, options: { builders?: number } = {}): Promise<LeaseNode[]> {
    const builders = options.builders ?? count
    for (let i = 0; i < count; i++) {
      const identity = await this.mesh.identity()
      if (i < builders) this.builders.add(identity.id)
      const node = await this.mesh.node(identity, {
        dhtValidators: { lease: leaseValidator(this.isBuilder) },
        dhtSelectors: { lease: leaseSelector },
        bootstrap: i === 0 ? [] : [addrOf(this.nodes[0].node)]
      })
      const leases = this.manager(node, identity, init)
      await leases.start()
      this.nodes.push({ identity, node, leases })
    }
    await waitFor(() => this.nodes.every(n => tableSize(n.node) >= count - 1), 'every routing table to hold every peer', 30_000)
    return this.nodes
  }

  /** another manager on an existing node (stopped with the mesh) */
  manager (node: MeshLibp2p, identity: Identity, init: LeaseManagerInit = {}, extra: Pick<LeaseManagerComponents, 'now' | 'isBuilder'> = {}): LeaseManager {
    const leases = new LeaseManager({ dht: node.services.dht, identity, ...extra }, init)
    this.managers.push(leases)
    return leases
  }

  async stop (): Promise<void> {
    await Promise.all(this.managers.splice(0).map(async m => { await m.stop() }))
    await this.mesh.stop()
  }
}

/** put a record with kad-dht directly (no checks here); which peers accepted it and which refused */
export async function rawPut (node: MeshLibp2p, key: Uint8Array, value: Uint8Array): Promise<{ accepted: Set<string>, refused: Set<string> }> {
  const accepted = new Set<string>()
  const refused = new Set<string>()
  for await (const evt of node.services.dht.put(key, value, { signal: AbortSignal.timeout(10_000) })) {
    if (evt.name === 'PEER_RESPONSE' && evt.messageName === 'PUT_VALUE') accepted.add(evt.from.toString())
    if (evt.name === 'QUERY_ERROR') refused.add(evt.from.toString())
  }
  return { accepted, refused }
}

/** every value a node's kad-dht get yields for `key` (its validators and selector applied) */
export async function rawGet (node: MeshLibp2p, key: Uint8Array): Promise<Uint8Array[]> {
  const values: Uint8Array[] = []
  for await (const evt of node.services.dht.get(key, { signal: AbortSignal.timeout(10_000) })) {
    if (evt.name === 'VALUE') values.push(evt.value)
  }
  return values
}
