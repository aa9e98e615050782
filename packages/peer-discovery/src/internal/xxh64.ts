/**
 * The JavaScript side of the WebAssembly rendezvous kernel (xxh64.wat): lays peer ids and keys out in
 * the module's memory and calls it. Not API: Rendezvous.ts is the public face.
 */
import { compareIds } from "./order.js"
import { xxh64WasmBase64 } from "./xxh64Module.js"

// The part of the WebAssembly JS API used here: Node has it, @types/node 20 does not declare it.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array)
  }
  class Instance {
    constructor(module: Module)
    readonly exports: unknown
  }
  interface Memory {
    readonly buffer: ArrayBuffer
    grow(pages: number): number
  }
  interface Global {
    readonly value: unknown
  }
}

interface KernelExports {
  readonly memory: WebAssembly.Memory
  readonly bestScore: WebAssembly.Global
  readonly argmax: (table: number, count: number, buffers: number, stride: number, prefixLen: number) => number
  readonly challenge: (
    peer: number,
    peerLen: number,
    count: number,
    scores: number,
    owners: number,
    challenger: number,
    buffer: number,
    ties: number
  ) => number
}

const instantiate = (): KernelExports => {
  const module = new WebAssembly.Module(Buffer.from(xxh64WasmBase64, "base64"))
  return new WebAssembly.Instance(module).exports as KernelExports
}

const SEPARATOR = 0x7c // "|", written twice between key and peer id
const PAGE_BYTES = 65_536
const MAX_UTF8_BYTES_PER_UTF16_UNIT = 3
/** Digits of the largest shard key the kernel counts up to (shard counts stay below 10,000,000). */
const MAX_SHARD_KEY_DIGITS = 7
const TABLE_ENTRY_BYTES = 8
/** The kernel moves bytes a word at a time, so it may touch up to 8 bytes past their end. */
const WORD_SLACK = 8

const align8 = (offset: number): number => (offset + 7) & ~7

const utf8 = new TextEncoder()

/**
 * Rendezvous scoring over one loaded peer list. Memory: the table of (offset, length) pairs at 0, the
 * peers' UTF-8 bytes after it, then the kernel's two key buffers. The peer list is loaded once and
 * reused while callers pass the same ids in the same order, the common case (one PeerSet per refresh).
 */
class RendezvousKernel {
  private readonly wasm = instantiate()
  // The entry point as a field: a lookup on the exports object on every call costs measurably.
  private readonly argmax = this.wasm.argmax
  private bytes = new Uint8Array(this.wasm.memory.buffer)
  /** The longest key (in UTF-16 units) the memory has room for after the loaded ids: checked per call. */
  private keyRoom = 0

  /** The ids as last loaded, in the caller's order; compared by content on every call. */
  private loadedIds: Array<string> = []
  /**
   * The caller's array of the loaded ids when it is frozen (a PeerSet's are), so that calls with the same
   * array skip comparing the ids: a quarter of the time of a call over 24 peers.
   */
  private loadedFrozen: ReadonlyArray<string> | undefined = undefined
  /** Position in the caller's array of each table entry; the table is sorted by id. */
  private tableToCaller = new Int32Array(0)
  /** The table entry of each position in the caller's array: the smaller entry is the smaller id. */
  private callerToTable = new Int32Array(0)
  /** Where the key buffers start, after the table and the peer ids. */
  private buffers = 0
  private longestPeer = 0

  /** Index in `peers` of the owner of `key`, or -1 when `peers` is empty. */
  ownerIndex(key: string, peers: ReadonlyArray<string>): number {
    if (peers.length === 0) return -1
    if (!this.isLoaded(peers)) this.load(peers)
    const winner = this.runKernel(key, 0, peers.length, this.buffers, this.longestPeer)
    return this.tableToCaller[winner]!
  }

  /** xxHash64, seed 0, of the UTF-8 bytes of `key + "||" + peer`, as an unsigned 64-bit integer. */
  score(key: string, peer: string): bigint {
    // A one-entry table of its own after the loaded list, which stays as it is.
    const peerBytes = utf8.encode(peer)
    const table = this.buffers
    const peerAt = table + TABLE_ENTRY_BYTES
    const buffers = align8(peerAt + peerBytes.length + WORD_SLACK)
    this.ensureCapacity(buffers)
    const view = new DataView(this.wasm.memory.buffer)
    view.setUint32(table, peerAt, true)
    view.setUint32(table + 4, peerBytes.length, true)
    this.bytes.set(peerBytes, peerAt)
    this.runKernel(key, table, 1, buffers, peerBytes.length)
    return this.lastScore()
  }

  /** The score of the owner found by the last kernel call ({@link ownerIndex}, {@link score}). */
  lastScore(): bigint {
    return BigInt.asUintN(64, this.wasm.bestScore.value as bigint)
  }

  /**
   * Scores every shard key (`0 … owners.length - 1` in decimal) for each peer of `challengers`
   * (positions in `peers`), in one kernel call per challenger: a shard goes to the challenger whose
   * score beats `scores[shard]`, or that has no owner yet (-1 in `owners`); ties go to the smaller id,
   * as in {@link ownerIndex}. Updates `owners` (positions in `peers`) and `scores` in place. This is how
   * a joining peer takes its shards without the other peers being hashed, and how a whole table is
   * built one peer at a time.
   */
  challengeShards(
    peers: ReadonlyArray<string>,
    challengers: ReadonlyArray<number>,
    owners: Int32Array,
    scores: BigUint64Array
  ): void {
    if (challengers.length === 0) return
    const count = owners.length
    if (count >= 10 ** MAX_SHARD_KEY_DIGITS) throw new RangeError(`at most ${10 ** MAX_SHARD_KEY_DIGITS - 1} shards`)
    if (!this.isLoaded(peers)) this.load(peers)
    // After the loaded ids: the key buffer, the scores, the owners, the tied shards.
    const buffer = this.buffers
    const bufferBytes = align8(MAX_SHARD_KEY_DIGITS + 2 + this.longestPeer + WORD_SLACK)
    const scoresAt = buffer + bufferBytes
    const ownersAt = scoresAt + count * 8
    const tiesAt = ownersAt + count * 4
    this.ensureCapacity(tiesAt + count * 4)
    const memory = this.wasm.memory.buffer
    const wasmScores = new BigUint64Array(memory, scoresAt, count)
    const wasmOwners = new Int32Array(memory, ownersAt, count)
    const ties = new Int32Array(memory, tiesAt, count)
    const table = new Uint32Array(memory, 0, peers.length * 2)
    wasmScores.set(scores)
    wasmOwners.set(owners)
    for (const challenger of challengers) {
      const entry = this.callerToTable[challenger]!
      this.bytes.fill(0, buffer, buffer + bufferBytes)
      const tied = this.wasm.challenge(
        table[entry * 2]!,
        table[entry * 2 + 1]!,
        count,
        scoresAt,
        ownersAt,
        challenger,
        buffer,
        tiesAt
      )
      for (let i = 0; i < tied; i++) {
        const shard = ties[i]!
        if (this.callerToTable[challenger]! < this.callerToTable[wasmOwners[shard]!]!) wasmOwners[shard] = challenger
      }
    }
    scores.set(wasmScores)
    owners.set(wasmOwners)
  }

  /** Writes `key + "||"` into the first key buffer and runs the kernel over `count` table entries. */
  private runKernel(key: string, table: number, count: number, buffers: number, longestPeer: number): number {
    if (key.length > this.keyRoom || table !== 0) {
      const maxPrefix = key.length * MAX_UTF8_BYTES_PER_UTF16_UNIT + 2
      this.ensureCapacity(buffers + 2 * align8(maxPrefix + longestPeer + WORD_SLACK))
      if (table === 0) this.keyRoom = key.length
    }
    const bytes = this.bytes
    let length = 0
    for (; length < key.length; length++) {
      const unit = key.charCodeAt(length)
      if (unit >= 0x80) break
      bytes[buffers + length] = unit
    }
    if (length < key.length) {
      length = utf8.encodeInto(key, bytes.subarray(buffers)).written
    }
    bytes[buffers + length] = SEPARATOR
    bytes[buffers + length + 1] = SEPARATOR
    const prefixLen = length + 2
    const stride = align8(prefixLen + longestPeer + WORD_SLACK)
    return this.argmax(table, count, buffers, stride, prefixLen)
  }

  private isLoaded(peers: ReadonlyArray<string>): boolean {
    if (peers === this.loadedFrozen) return true
    const loaded = this.loadedIds
    if (loaded.length !== peers.length) return false
    for (let i = 0; i < peers.length; i++) {
      if (loaded[i] !== peers[i]) return false
    }
    // A frozen array cannot change: the next calls with it need not compare the ids again.
    if (Object.isFrozen(peers)) this.loadedFrozen = peers
    return true
  }

  private load(peers: ReadonlyArray<string>): void {
    const order = peers.map((_, index) => index).sort((a, b) => compareIds(peers[a]!, peers[b]!))
    const encoded = order.map((index) => utf8.encode(peers[index]!))
    const tableBytes = peers.length * TABLE_ENTRY_BYTES
    const idBytes = encoded.reduce((sum, id) => sum + id.length, 0)
    this.ensureCapacity(tableBytes + idBytes + WORD_SLACK)
    const table = new DataView(this.wasm.memory.buffer)
    let offset = tableBytes
    encoded.forEach((id, entry) => {
      table.setUint32(entry * TABLE_ENTRY_BYTES, offset, true)
      table.setUint32(entry * TABLE_ENTRY_BYTES + 4, id.length, true)
      this.bytes.set(id, offset)
      offset += id.length
    })
    this.loadedIds = [...peers]
    this.loadedFrozen = Object.isFrozen(peers) ? peers : undefined
    this.tableToCaller = Int32Array.from(order)
    this.callerToTable = new Int32Array(peers.length)
    order.forEach((caller, entry) => (this.callerToTable[caller] = entry))
    this.buffers = align8(offset + WORD_SLACK)
    this.longestPeer = encoded.reduce((longest, id) => Math.max(longest, id.length), 0)
    this.keyRoom = 0
  }

  private ensureCapacity(byteLength: number): void {
    const memory = this.wasm.memory
    if (byteLength <= memory.buffer.byteLength) return
    memory.grow(Math.ceil((byteLength - memory.buffer.byteLength) / PAGE_BYTES))
    this.bytes = new Uint8Array(memory.buffer)
  }
}

/** The process-wide kernel: WebAssembly calls are synchronous, so one instance serves every fiber. */
export const kernel = new RendezvousKernel()
