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
}

const instantiate = (): KernelExports => {
  const module = new WebAssembly.Module(Buffer.from(xxh64WasmBase64, "base64"))
  return new WebAssembly.Instance(module).exports as KernelExports
}

const SEPARATOR = 0x7c // "|", written twice between key and peer id
const PAGE_BYTES = 65_536
const MAX_UTF8_BYTES_PER_UTF16_UNIT = 3
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
  private bytes = new Uint8Array(this.wasm.memory.buffer)

  /** The ids as last loaded, in the caller's order; compared by content on every call. */
  private loadedIds: Array<string> = []
  /** Position in the caller's array of each table entry; the table is sorted by id. */
  private tableToCaller = new Int32Array(0)
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
    return BigInt.asUintN(64, this.wasm.bestScore.value as bigint)
  }

  /**
   * For each key `keys(i)`, i < `count`, whether the peer at `challenger` in `peers` beats the one at
   * `holders[i]` (both positions in `peers`): each duel hashes two ids in one kernel call, ties to the
   * smaller id as in {@link ownerIndex}. Writes the winners' positions back into `holders`. This is how
   * a joining peer is scored against every shard's owner without touching the other peers.
   */
  duel(count: number, keys: (i: number) => string, peers: ReadonlyArray<string>, holders: Int32Array, challenger: number): void {
    if (!this.isLoaded(peers)) this.load(peers)
    const callerToTable = new Int32Array(peers.length)
    this.tableToCaller.forEach((caller, entry) => (callerToTable[caller] = entry))
    // A two-entry table of its own after the loaded ids; the key buffers after it, sized for the
    // longest key once, so that the loop below only writes the key and calls the kernel.
    const table = this.buffers
    const buffers = align8(table + 2 * TABLE_ENTRY_BYTES)
    let longestKey = 0
    for (let i = 0; i < count; i++) longestKey = Math.max(longestKey, keys(i).length)
    const stride = align8(longestKey * MAX_UTF8_BYTES_PER_UTF16_UNIT + 2 + this.longestPeer + WORD_SLACK)
    this.ensureCapacity(buffers + 2 * stride)
    const words = new Uint32Array(this.wasm.memory.buffer)
    const bytes = this.bytes
    const argmax = this.wasm.argmax
    const challengerEntry = callerToTable[challenger]!
    const t = table / 4
    for (let i = 0; i < count; i++) {
      const holder = holders[i]!
      if (holder === challenger) continue
      const holderEntry = callerToTable[holder]!
      // The lower table entry (the smaller id) first, so that a tie goes to it.
      const first = holderEntry < challengerEntry ? holderEntry : challengerEntry
      const second = holderEntry < challengerEntry ? challengerEntry : holderEntry
      words[t] = words[first * 2]!
      words[t + 1] = words[first * 2 + 1]!
      words[t + 2] = words[second * 2]!
      words[t + 3] = words[second * 2 + 1]!
      const key = keys(i)
      let length = 0
      for (; length < key.length; length++) {
        const unit = key.charCodeAt(length)
        if (unit >= 0x80) break
        bytes[buffers + length] = unit
      }
      if (length < key.length) length = utf8.encodeInto(key, bytes.subarray(buffers)).written
      bytes[buffers + length] = SEPARATOR
      bytes[buffers + length + 1] = SEPARATOR
      const won = argmax(table, 2, buffers, stride, length + 2) === 0 ? first : second
      holders[i] = this.tableToCaller[won]!
    }
  }

  /** Writes `key + "||"` into the first key buffer and runs the kernel over `count` table entries. */
  private runKernel(key: string, table: number, count: number, buffers: number, longestPeer: number): number {
    const maxPrefix = key.length * MAX_UTF8_BYTES_PER_UTF16_UNIT + 2
    this.ensureCapacity(buffers + 2 * align8(maxPrefix + longestPeer + WORD_SLACK))
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
    return this.wasm.argmax(table, count, buffers, stride, prefixLen)
  }

  private isLoaded(peers: ReadonlyArray<string>): boolean {
    const loaded = this.loadedIds
    if (loaded.length !== peers.length) return false
    for (let i = 0; i < peers.length; i++) {
      if (loaded[i] !== peers[i]) return false
    }
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
    this.tableToCaller = Int32Array.from(order)
    this.buffers = align8(offset + WORD_SLACK)
    this.longestPeer = encoded.reduce((longest, id) => Math.max(longest, id.length), 0)
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
