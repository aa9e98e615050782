import { describe, expect, it } from "vitest"
import { readFile } from "node:fs/promises"
import { referenceOwner } from "@miroir/test-support/referenceOwner"
import { xxh64 } from "@node-rs/xxhash"
import * as Rendezvous from "../src/Rendezvous.js"
import { compileXxh64, generatedPath, renderModule } from "../scripts/wasmSource.js"

const deploymentPeers = (n: number, offset = 0) =>
  Array.from({ length: n }, (_, i) => `10-244-${(i + offset) % 7}-${(i + offset) * 37 % 251}`)

describe("Rendezvous.score", () => {
  it("matches the Rust Miroir's vector", () => {
    expect(Rendezvous.score("shard-42", "pod-1")).toBe(14965535022948317597n)
  })

  it("is xxHash64 (seed 0) of key||\"||\"||peer for keys of every length, through the stripe path", () => {
    for (let length = 0; length <= 200; length++) {
      const key = Array.from({ length }, (_, i) => String.fromCharCode(97 + (i * 7) % 26)).join("")
      for (const peer of ["", "p", "10-244-1-5", "miroir-7d9f8c6b5-x2x4q", "fd00-10-244--0"]) {
        expect(Rendezvous.score(key, peer), `${length}/${peer}`).toBe(xxh64(Buffer.from(`${key}||${peer}`)))
      }
    }
  })

  it("hashes the UTF-8 bytes of non-ASCII keys and ids", () => {
    for (const [key, peer] of [["clé-🔑", "pod-é"], ["日本語のキー".repeat(9), "ü"]] as const) {
      expect(Rendezvous.score(key, peer)).toBe(xxh64(Buffer.from(`${key}||${peer}`, "utf8")))
    }
  })
})

describe("Rendezvous.ownerOf", () => {
  it("agrees with the reference for many keys, peer counts and key lengths", () => {
    for (const n of [1, 2, 3, 8, 24, 100]) {
      const peers = deploymentPeers(n)
      for (let k = 0; k < 500; k++) {
        const key = k % 5 === 0 ? `long-task-key-${"x".repeat(k % 70)}-${k}` : `task-${k}`
        expect(Rendezvous.ownerOf(key, peers), `${n} peers, ${key}`).toBe(referenceOwner(key, peers))
      }
    }
  })

  it("agrees with the reference wherever key and peer meet in a word, for short and long inputs in one list", () => {
    // Ids of 1 to 40 bytes and keys of 0 to 48: key and peer meet at every offset in a word, and the
    // whole input is under 32 bytes for some peers of a key and longer for others. The keys grow and
    // then shrink, so that a peer's copy never keeps a byte of the key before. The kernel hashes
    // neighbours in id order with ids of the same length together: the second list has such pairs at
    // every length, with single ids between them.
    const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz~!@"
    const singles = Array.from({ length: 40 }, (_, i) => `p${alphabet.slice(0, i)}`)
    const pairs = Array.from({ length: 40 }, (_, i) => [`${alphabet.slice(0, i)}A`, `${alphabet.slice(0, i)}B`])
    const lengths = Array.from({ length: 49 }, (_, i) => i)
    for (
      const peers of [singles, [...pairs.flat(), ...singles.filter((_, i) => i % 3 === 0)]].map((list) =>
        Object.freeze(list)
      )
    ) {
      for (const length of [...lengths, ...[...lengths].reverse()]) {
        const key = Array.from({ length }, (_, i) => String.fromCharCode(65 + (i * 11 + length) % 26)).join("")
        expect(Rendezvous.ownerOf(key, peers), `key of ${length}`).toBe(referenceOwner(key, peers))
        peers.forEach((peer, i) => {
          const two = [peer, peers[(i + 7) % peers.length]!]
          expect(Rendezvous.ownerOf(key, two), `${key} / ${two.join(", ")}`).toBe(referenceOwner(key, two))
        })
      }
    }
  })

  it("does not depend on the order of the peers, and notices changed arrays", () => {
    const peers = deploymentPeers(24)
    const shuffled = [...peers].reverse()
    const mutable = [...peers]
    for (let k = 0; k < 200; k++) {
      const key = `shard-${k}`
      const owner = Rendezvous.ownerOf(key, peers)
      expect(Rendezvous.ownerOf(key, shuffled)).toBe(owner)
      expect(Rendezvous.ownerOf(key, mutable)).toBe(owner)
    }
    mutable[3] = "10-9-9-9"
    for (let k = 0; k < 200; k++) {
      expect(Rendezvous.ownerOf(`shard-${k}`, mutable)).toBe(referenceOwner(`shard-${k}`, mutable))
    }
  })

  it("takes a frozen array's ids as laid out, and still notices another array", () => {
    const keys = Array.from({ length: 200 }, (_, i) => `task-${i}`)
    const first = Object.freeze(["10-0-0-1", "10-0-0-2", "10-0-0-3"])
    const second = Object.freeze(["10-0-0-1", "10-0-0-2", "10-0-0-4"])
    for (const peers of [first, second, first, [...second], second]) {
      for (const key of keys) expect(Rendezvous.ownerOf(key, peers)).toBe(referenceOwner(key, peers))
    }
  })

  it("has no owner without peers, and the only peer owns everything", () => {
    expect(Rendezvous.ownerOf("k", [])).toBeUndefined()
    expect(Rendezvous.ownerOf("k", ["only"])).toBe("only")
  })

  it("gives every key exactly one owner across all pods' views", () => {
    const peers = deploymentPeers(5)
    const views = peers.map((self) => ({ self, view: [...peers].sort(() => (self.length % 2 ? 1 : -1)) }))
    for (let k = 0; k < 2_000; k++) {
      const owners = views.filter(({ self, view }) => Rendezvous.ownerOf(`task-${k}`, view) === self)
      expect(owners).toHaveLength(1)
    }
    const shards = views.map(({ self, view }) => Rendezvous.ownedShards(256, self, view))
    const all = shards.flat().sort((a, b) => a - b)
    expect(all).toEqual(Array.from({ length: 256 }, (_, i) => i))
  })

  it("moves only the keys the new peer now owns when a fourth peer joins", () => {
    const three = deploymentPeers(3)
    const newcomer = "10-244-9-99"
    const four = [...three, newcomer]
    let moved = 0
    for (let k = 0; k < 10_000; k++) {
      const before = Rendezvous.ownerOf(`task-${k}`, three)
      const after = Rendezvous.ownerOf(`task-${k}`, four)
      if (before !== after) {
        expect(after).toBe(newcomer)
        moved += 1
      }
    }
    // About a quarter of the keys move; a bad hash would move none or far more.
    expect(moved).toBeGreaterThan(2_000)
    expect(moved).toBeLessThan(3_000)
  })

  it("rejects shard counts that are not positive integers", () => {
    expect(() => Rendezvous.ownedShards(0, "a", ["a"])).toThrow(/shard count must be an integer from 1/)
    expect(() => Rendezvous.ownedShards(1.5, "a", ["a"])).toThrow(/got 1.5/)
  })
})

describe("the WebAssembly kernel", () => {
  it("is the committed compilation of xxh64.wat", async () => {
    const committed = await readFile(generatedPath, "utf8")
    expect(committed).toBe(renderModule(await compileXxh64()))
  })
})
