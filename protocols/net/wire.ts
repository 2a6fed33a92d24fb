/**
 * Fewer packets for the same bytes: two changes to how the libp2p stack writes to its sockets.
 *
 * - `corkedTcp()`: the TCP transport writes each buffer a connection hands it with its own
 *   `socket.write`, and Noise hands it every message as two buffers (a 2-byte length, then the
 *   ciphertext), so each yamux frame cost two write system calls and the peer often woke up for
 *   the 2 bytes alone. Each connection's sends are corked for the length of one hand-over, so
 *   Node.js gives them to the kernel as one `writev`.
 * - `useHalfWindowUpdates()`: @libp2p/yamux answers every data frame it receives with a window
 *   update (another frame, encrypted and written), where yamux's reference implementation and
 *   rust-yamux grant more credit only once half of the receive window has been used. A sender
 *   can still never stall: it runs out of credit only after the whole window, by which time the
 *   update has gone out.
 *
 * - `useQuietLengthPrefixes()`: libp2p's length-prefixed decoder (Noise's, on every connection)
 *   learns that its buffer holds no further frame from its length decoder throwing a new
 *   `RangeError`, so every message received built an Error and captured a stack (several µs,
 *   on every keystroke of an attach session and every message of every protocol). An empty buffer
 *   now ends the loop with one RangeError made once: the same control flow, without the capture.
 *
 * All three touch the libraries' objects from outside, so each checks the shape it relies on and
 * changes nothing (and says so through `wireTuning()`) if a new version no longer has it.
 */
import { tcp } from '@libp2p/tcp'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { StreamState, YamuxStream } from '@libp2p/yamux/stream'
import type { TCPComponents, TCPOptions } from '@libp2p/tcp'
import type { Connection, CreateListenerOptions, DialTransportOptions, MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'
import type { Socket } from 'node:net'
import type { Uint8ArrayList } from 'uint8arraylist'

/** whether each change is in force in this process */
export interface WireTuning {
  /** TCP connections' sends are corked per hand-over (set once a connection has been seen) */
  corkedTcp: boolean | 'unknown'
  /** yamux streams grant credit once half the receive window is used */
  halfWindowUpdates: boolean
  /** length-prefixed decoders stop at an empty buffer without building an Error */
  quietLengthPrefixes: boolean
}

const state: WireTuning = { corkedTcp: 'unknown', halfWindowUpdates: false, quietLengthPrefixes: false }

/** which of the changes took effect (a library update may have made one impossible) */
export function wireTuning (): Readonly<WireTuning> {
  return { ...state }
}

interface SendingConnection {
  socket?: unknown
  sendData?: (data: Uint8ArrayList) => unknown
}

const CORKED = Symbol('cit.corked')

/** cork `maConn`'s socket while it hands over one list of buffers; false if its shape is not the known one */
function corkSends (maConn: MultiaddrConnection): boolean {
  const conn = maConn as unknown as SendingConnection & { [CORKED]?: true }
  if (conn[CORKED] === true) return true
  const socket = conn.socket as Partial<Socket> | undefined
  const send = conn.sendData
  if (typeof send !== 'function' || socket == null || typeof socket.cork !== 'function' || typeof socket.uncork !== 'function') return false
  const cork = socket.cork.bind(socket)
  const uncork = socket.uncork.bind(socket)
  conn.sendData = function corkedSendData (this: unknown, data: Uint8ArrayList): unknown {
    cork()
    try {
      return send.call(this, data)
    } finally {
      uncork()
    }
  }
  conn[CORKED] = true
  return true
}

const LAST_RECEIVED = Symbol('cit.lastReceived')

/** stamp `maConn` with the time its socket last received bytes (read back by `lastReceivedAt`) */
function stampReceives (maConn: MultiaddrConnection): void {
  const conn = maConn as unknown as { socket?: Partial<Socket>, [LAST_RECEIVED]?: number }
  if (conn[LAST_RECEIVED] != null) return
  const socket = conn.socket
  if (socket == null || typeof socket.on !== 'function') return
  conn[LAST_RECEIVED] = Date.now()
  // the TCP transport reads the socket in flowing mode already: one more listener changes nothing of that
  socket.on('data', () => { conn[LAST_RECEIVED] = Date.now() })
}

/**
 * When a connection made by `corkedTcp()` last received bytes (ms since the epoch), or undefined
 * for a connection of another shape (the quiet monitor then pings it at every interval).
 */
export function lastReceivedAt (conn: Connection): number | undefined {
  return (conn as unknown as { maConn?: { [LAST_RECEIVED]?: number } }).maConn?.[LAST_RECEIVED]
}

/** `upgrader`, with every connection it upgrades corked first */
function corkingUpgrader (upgrader: Upgrader): Upgrader {
  const seen = (maConn: MultiaddrConnection): void => {
    stampReceives(maConn)
    const ok = corkSends(maConn)
    if (state.corkedTcp === 'unknown' || !ok) state.corkedTcp = ok
  }
  return new Proxy(upgrader, {
    get (target, prop) {
      if (prop === 'upgradeInbound') {
        return async (maConn: MultiaddrConnection, opts: any) => { seen(maConn); await target.upgradeInbound(maConn, opts) }
      }
      if (prop === 'upgradeOutbound') {
        return async (maConn: MultiaddrConnection, opts: any) => { seen(maConn); return await target.upgradeOutbound(maConn, opts) }
      }
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/** libp2p's TCP transport, whose connections write each hand-over with one system call */
export function corkedTcp (init?: TCPOptions): (components: TCPComponents) => Transport {
  const make = tcp(init)
  return (components) => {
    const transport = make(components)
    const dial = transport.dial.bind(transport)
    const createListener = transport.createListener.bind(transport)
    transport.dial = async (ma, options: DialTransportOptions) => await dial(ma, { ...options, upgrader: corkingUpgrader(options.upgrader) })
    transport.createListener = (options: CreateListenerOptions) => createListener({ ...options, upgrader: corkingUpgrader(options.upgrader) })
    return transport
  }
}

interface WindowFields {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
}

/**
 * Make every yamux stream in this process send a window update only once half its receive
 * window is used (or when the update carries a flag: opening, acknowledging, resuming after a
 * pause all still go through). Idempotent.
 */
export function useHalfWindowUpdates (): void {
  if (state.halfWindowUpdates) return
  const proto = YamuxStream.prototype as unknown as { sendWindowUpdate?: () => void, [CORKED]?: true }
  const original = proto.sendWindowUpdate
  if (typeof original !== 'function' || typeof StreamState?.Established !== 'number') return
  proto.sendWindowUpdate = function halfWindowUpdate (this: WindowFields): void {
    // only an established stream sends updates without a flag; the others must go out as before
    if (this.state === StreamState.Established && typeof this.recvWindow === 'number' &&
      typeof this.recvWindowCapacity === 'number' && this.recvWindowCapacity > this.recvWindow / 2) return
    original.call(this)
  }
  state.halfWindowUpdates = true
}

interface PrefixDecoderFields {
  buffer?: { byteLength?: unknown }
  lengthDecoder?: (data: unknown) => number
  [QUIET]?: true
}

const QUIET = Symbol('cit.quietLengthPrefix')
/** thrown for every empty buffer: made once, so no stack is captured per message */
const NO_PREFIX_YET = new RangeError('no length prefix in an empty buffer')

/**
 * Make every length-prefixed decoder in this process (libp2p's, which Noise uses on every
 * connection) stop at an empty buffer by throwing one RangeError made once, instead of having its
 * length decoder build a new one; a buffer holding part of a prefix goes to the length decoder as
 * before. Its loop catches a RangeError as "wait for more", so nothing else changes. Idempotent.
 */
export function useQuietLengthPrefixes (): void {
  if (state.quietLengthPrefixes) return
  const proto = (LengthPrefixedDecoder as unknown as { prototype?: { decode?: (buf: unknown) => Generator<unknown> } } | undefined)?.prototype
  const original = proto?.decode
  if (proto == null || typeof original !== 'function') return
  proto.decode = function quietDecode (this: PrefixDecoderFields, buf: unknown): Generator<unknown> {
    if (this[QUIET] !== true) {
      const decodeLength = this.lengthDecoder
      if (typeof decodeLength === 'function' && typeof this.buffer?.byteLength === 'number') {
        const buffer = this.buffer
        this.lengthDecoder = (data: unknown): number => {
          if (data === buffer && buffer.byteLength === 0) throw NO_PREFIX_YET
          return decodeLength(data)
        }
      }
      this[QUIET] = true
    }
    return original.call(this, buf)
  }
  state.quietLengthPrefixes = true
}
