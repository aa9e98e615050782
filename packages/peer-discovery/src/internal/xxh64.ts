/**
 * The JavaScript side of the WebAssembly rendezvous kernel (xxh64.wat): lays peer ids and keys out in
 * the module's memory and calls it. Not API: Rendezvous.ts is the public face.
 */
import { compareIds } from "./order.js"
import { xxh64WasmBase64 } from "./xxh64Module.js"

// The part of the WebAssembly JS API used here: Node has it, @types/node (24 too) does not declare it.
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
  readonly argmax: (
    table: number,
    count: number,
    key: number,
    prefixLen: number,
    variants: number,
    variantStride: number
  ) => number
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
/** The offsets a byte can have within a word: argmax keeps a copy of each peer id at each. */
const WORD_OFFSETS = 8

const align8 = (offset: number): number => (offset + 7) & ~7

/**
 * Where the kernel finds a peer list in its memory: the table of (offset, length) pairs, the ids, the
 * copies of each id at the 8 offsets within a word (what argmax reads short inputs from), and the key
 * buffer after them.
 */
interface Layout {
  readonly table: number
  readonly count: number
  readonly variants: number
  readonly variantStride: number
  readonly key: number
  readonly longestPeer: number
}

const EMPTY_LAYOUT: Layout = { table: 0, count: 0, variants: 0, variantStride: 0, key: 0, longestPeer: 0 }

const utf8 = new TextEncoder()

/**
 * Rendezvous scoring over one loaded peer list. Memory: the list's {@link Layout} at 0, then scratch
 * space (for {@link RendezvousKernel.score} and the shard tables). The peer list is loaded once and
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
  private layout = EMPTY_LAYOUT

  /** Index in `peers` of the owner of `key`, or -1 when `peers` is empty. */
  ownerIndex(key: string, peers: ReadonlyArray<string>): number {
    if (peers.length === 0) return -1
    if (!this.isLoaded(peers)) this.load(peers)
    const winner = this.runKernel(key, this.layout)
    return this.tableToCaller[winner]!
  }

  /** xxHash64, seed 0, of the UTF-8 bytes of `key + "||" + peer`, as an unsigned 64-bit integer. */
  score(key: string, peer: string): bigint {
    // A one-peer list of its own after the loaded one, which stays as it is.
    this.runKernel(key, this.writeLayout([utf8.encode(peer)], this.layout.key))
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
    // After the loaded list: the key buffer, the scores, the owners, the tied shards.
    const buffer = this.layout.key
    const bufferBytes = align8(MAX_SHARD_KEY_DIGITS + 2 + this.layout.longestPeer + WORD_SLACK)
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

  /** Writes `key + "||"` into the layout's key buffer and runs the kernel over its peers. */
  private runKernel(key: string, layout: Layout): number {
    const buffer = layout.key
    if (key.length > this.keyRoom || layout !== this.layout) {
      const maxPrefix = key.length * MAX_UTF8_BYTES_PER_UTF16_UNIT + 2
      this.ensureCapacity(buffer + align8(maxPrefix + layout.longestPeer + WORD_SLACK))
      if (layout === this.layout) this.keyRoom = key.length
    }
    const bytes = this.bytes
    let length = 0
    for (; length < key.length; length++) {
      const unit = key.charCodeAt(length)
      if (unit >= 0x80) break
      bytes[buffer + length] = unit
    }
    if (length < key.length) {
      length = utf8.encodeInto(key, bytes.subarray(buffer)).written
    }
    bytes[buffer + length] = SEPARATOR
    bytes[buffer + length + 1] = SEPARATOR
    return this.argmax(layout.table, layout.count, buffer, length + 2, layout.variants, layout.variantStride)
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
    this.layout = this.writeLayout(order.map((index) => utf8.encode(peers[index]!)), 0)
    this.loadedIds = [...peers]
    this.loadedFrozen = Object.isFrozen(peers) ? peers : undefined
    this.tableToCaller = Int32Array.from(order)
    this.callerToTable = new Int32Array(peers.length)
    order.forEach((caller, entry) => (this.callerToTable[caller] = entry))
    this.keyRoom = 0
  }

  /** Lays `ids` out for the kernel from `at` (see {@link Layout}); the key buffer is sized per key. */
  private writeLayout(ids: ReadonlyArray<Uint8Array>, at: number): Layout {
    const table = align8(at)
    const longestPeer = ids.reduce((longest, id) => Math.max(longest, id.length), 0)
    const idsEnd = table + ids.length * TABLE_ENTRY_BYTES + ids.reduce((sum, id) => sum + id.length, 0)
    // A copy starts at its offset in the word: up to 7 bytes before the id.
    const variantStride = align8(WORD_OFFSETS - 1 + longestPeer)
    const variants = align8(idsEnd + WORD_SLACK)
    const key = variants + ids.length * WORD_OFFSETS * variantStride
    this.ensureCapacity(key)
    const view = new DataView(this.wasm.memory.buffer)
    let offset = table + ids.length * TABLE_ENTRY_BYTES
    ids.forEach((id, entry) => {
      view.setUint32(table + entry * TABLE_ENTRY_BYTES, offset, true)
      view.setUint32(table + entry * TABLE_ENTRY_BYTES + 4, id.length, true)
      this.bytes.set(id, offset)
      offset += id.length
      for (let wordOffset = 0; wordOffset < WORD_OFFSETS; wordOffset++) {
        this.bytes.set(id, variants + (entry * WORD_OFFSETS + wordOffset) * variantStride + wordOffset)
      }
    })
    return { table, count: ids.length, variants, variantStride, key, longestPeer }
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
