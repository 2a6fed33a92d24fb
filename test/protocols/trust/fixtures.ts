import { Identity } from '../../../protocols/codec/index.js'
import { createMesh, TrustState } from '../../../protocols/trust/index.js'
import type { MeshInfo } from '../../../protocols/trust/index.js'

/** a fixed epoch for records, so tests state times exactly */
export const T0 = 1_700_000_000_000

export async function identities (n: number): Promise<Identity[]> {
  return Promise.all(Array.from({ length: n }, async () => Identity.generate()))
}

export interface Fixture {
  root: Identity
  mesh: MeshInfo
  /** a TrustState whose clock reads `now` */
  state: (now?: number) => TrustState
}

export async function fixture (): Promise<Fixture> {
  const root = await Identity.generate()
  const mesh = createMesh(root, T0)
  return { root, mesh, state: (now = T0 + 100) => new TrustState({ mesh, clock: () => now }) }
}

/** mulberry32: a small seeded RNG so a failing shuffle can be replayed */
export function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function shuffle<T> (items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}
