/**
 * The one short form of ids for people (tables, reasons, one-line outcomes). Peer ids of Ed25519
 * keys all begin `12D3KooW`, so their last characters tell them apart; job ids are hex hashes,
 * told apart by their first characters (and a prefix of 4+ of them names a job).
 */

/** characters of a peer id shown: its tail */
export const SHORT_PEER_CHARS = 8
/** characters of a job id (or a blob hash) shown: its head */
export const SHORT_JOB_CHARS = 12

/** `…` and the last SHORT_PEER_CHARS characters of a peer id */
export function shortPeer (id: string | null | undefined): string {
  if (id == null || id === '') return '-'
  return id.length <= SHORT_PEER_CHARS ? id : `…${id.slice(-SHORT_PEER_CHARS)}`
}

/** the first SHORT_JOB_CHARS hex digits of a job id or hash */
export function shortJob (id: string | null | undefined): string {
  return id == null || id === '' ? '-' : id.slice(0, SHORT_JOB_CHARS)
}
