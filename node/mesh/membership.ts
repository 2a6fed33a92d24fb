import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeCbor, encodeCbor, isRecord } from '../../protocols/codec/index.js'
import { decodeMeshInfo, encodeMeshInfo } from '../../protocols/trust/index.js'
import { NodeError } from '../errors.js'
import { writeFileAtomic } from '../home.js'
import type { MeshInfo } from '../../protocols/trust/index.js'

const FILE = 'mesh.cbor'
const MAX_FILE_BYTES = 8 * 1024 * 1024

/** What makes a home a member of a mesh: written by `init` and `join`, read by the daemon. */
export interface Membership {
  mesh: MeshInfo
  /** trust records the home started with (the invite and its enrollment, or nothing for the root) */
  records: Uint8Array[]
  /** member addresses to dial at start (from the token and the join reply) */
  bootstrap: string[]
  joinedAt: number
  /** set by `leave`: the home keeps its history but no longer joins the mesh */
  leftAt?: number
}

export class MembershipError extends NodeError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_MEMBERSHIP', message, options)
    this.name = 'MembershipError'
  }
}

export function membershipPath (home: string): string {
  return join(home, FILE)
}

/** The home's membership, or undefined for a home that never joined a mesh. */
export async function readMembership (home: string): Promise<Membership | undefined> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(membershipPath(home))
  } catch (err: any) {
    if (err?.code === 'ENOENT') return undefined
    throw err
  }
  try {
    const raw = decodeCbor(bytes, MAX_FILE_BYTES)
    if (!isRecord(raw) || !(raw.mesh instanceof Uint8Array) || !Array.isArray(raw.records) || !Array.isArray(raw.bootstrap)) {
      throw new MembershipError(`${membershipPath(home)} is damaged: missing fields`)
    }
    return {
      mesh: decodeMeshInfo(raw.mesh),
      records: raw.records.filter((r): r is Uint8Array => r instanceof Uint8Array),
      bootstrap: raw.bootstrap.filter((a): a is string => typeof a === 'string'),
      joinedAt: Number(raw.joinedAt ?? 0),
      leftAt: raw.leftAt == null ? undefined : Number(raw.leftAt)
    }
  } catch (err) {
    if (err instanceof MembershipError) throw err
    throw new MembershipError(`${membershipPath(home)} is damaged: ${String((err as Error).message)}`, { cause: err })
  }
}

export async function writeMembership (home: string, m: Membership): Promise<void> {
  await writeFileAtomic(membershipPath(home), encodeCbor({
    mesh: encodeMeshInfo(m.mesh),
    records: m.records,
    bootstrap: m.bootstrap,
    joinedAt: m.joinedAt,
    leftAt: m.leftAt
  }))
}
