/**
 * The detach key sequence of `cit-node attach`: Ctrl-] then `d` (Ctrl-] is telnet's escape key
 * and means nothing to shells and editors). Everything else, Ctrl-C included, is a key for the
 * job. Ctrl-] twice sends one Ctrl-]; Ctrl-] then any other key sends both.
 */

/** Ctrl-] (GS) */
export const DETACH_PREFIX = 0x1d
/** `d` after the prefix detaches */
export const DETACH_KEY = 0x64
/** how the sequence is shown to people */
export const DETACH_HINT = 'Ctrl-] d'
/** Ctrl-C (ETX): a key for the job in rw mode; in ro mode, where keys go nowhere, it detaches too */
export const CTRL_C = 0x03

export interface ScanResult {
  /** the keys to send to the job, in order */
  forward: Uint8Array
  /** the detach sequence was typed (keys after it in the same chunk are dropped) */
  detach: boolean
}

/** Finds the detach sequence in typed keys, across chunk boundaries. */
export class DetachScanner {
  private pending = false

  feed (chunk: Uint8Array): ScanResult {
    // almost every chunk: no Ctrl-] in it and none before it, so it goes as it is
    if (!this.pending && !chunk.includes(DETACH_PREFIX)) return { forward: chunk, detach: false }
    const out: number[] = []
    for (const byte of chunk) {
      if (this.pending) {
        this.pending = false
        if (byte === DETACH_KEY) return { forward: Uint8Array.from(out), detach: true }
        out.push(DETACH_PREFIX)
        if (byte !== DETACH_PREFIX) out.push(byte)
        continue
      }
      if (byte === DETACH_PREFIX) this.pending = true
      else out.push(byte)
    }
    return { forward: Uint8Array.from(out), detach: false }
  }
}
