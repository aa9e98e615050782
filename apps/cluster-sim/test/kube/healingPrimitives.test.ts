/**
 * The pure parts of the healing primitives, without a node: the partition's nftables script and the
 * addresses it accepts, the counters it reads back, and how a timeline of pod samples is read (shard-seconds,
 * agreement, coverage).
 */
import { describe, expect, it } from "vitest"
import { droppedPackets, isPodAddress, rules } from "../../src/kube/Partition.js"
import type { PodSample, Sample } from "../../src/kube/ViewSampler.js"
import { everyShardOwnedOnce, firstAt, heldDown, shardSeconds, survivorsAgree } from "../../src/kube/ViewTimeline.js"

const network = {
  index: 3,
  podCidr: "10.244.3.0/24",
  address: "10.244.3.1",
  bridge: "miroir-n3",
  networkName: "miroir-n3"
}

const pod = (label: string, owned: ReadonlyArray<number>, extra: Partial<PodSample> = {}): PodSample => ({
  name: label,
  label,
  ip: label,
  answered: true,
  peers: ["a", "b"],
  digest: "d",
  owned,
  suspected: [],
  down: [],
  fenced: false,
  ...extra
})

describe("Partition", () => {
  it("accepts only pods' addresses of the node's /24, never the node's own", () => {
    expect(isPodAddress(network, "10.244.3.7")).toBe(true)
    expect(isPodAddress(network, "10.244.3.1")).toBe(false)
    expect(isPodAddress(network, "10.244.3.255")).toBe(false)
    expect(isPodAddress(network, "10.244.30.7")).toBe(false)
    expect(isPodAddress(network, "127.0.0.1")).toBe(false)
  })

  it("drops both ways, or only the connections one side opens", () => {
    const two = rules("t", ["10.244.3.2"], ["10.244.3.3", "10.244.4.2"], "two-way")
    expect(two).toContain("table bridge t {")
    expect(two).toContain("elements = { 10.244.3.3, 10.244.4.2 }")
    expect(two).toContain("ip saddr @from ip daddr @to counter drop")
    expect(two).toContain("ip saddr @to ip daddr @from counter drop")
    const one = rules("t", ["10.244.3.2"], ["10.244.3.3"], "one-way")
    expect(one).toContain("ip saddr @from ip daddr @to tcp flags & (syn | ack) == syn counter drop")
    expect(one).not.toContain("ip saddr @to ip daddr @from")
  })

  it("sums the packets its counters dropped", () => {
    expect(droppedPackets("counter packets 12 bytes 720 drop\ncounter packets 3 bytes 180 drop")).toBe(15)
    expect(droppedPackets("")).toBe(0)
  })
})

describe("ViewTimeline", () => {
  const timeline: ReadonlyArray<Sample> = [
    { at: 0, pods: [pod("a", [0, 1]), pod("b", [2, 3])] },
    // b stops answering: its shards have no owner for 1 s.
    { at: 1000, pods: [pod("a", [0, 1]), pod("b", [], { answered: false })] },
    // a takes them over while b answers again with its old claim: doubly owned for 1 s.
    { at: 2000, pods: [pod("a", [0, 1, 2, 3], { peers: ["a"], digest: "x" }), pod("b", [2, 3])] },
    { at: 3000, pods: [pod("a", [0, 1]), pod("b", [2, 3], { down: ["c"] })] }
  ]

  it("integrates unowned and doubly owned shard-seconds", () => {
    const gaps = shardSeconds(timeline, 4, 0, 4000)
    expect(gaps.unowned).toBe(2)
    expect(gaps.doublyOwned).toBe(2)
    expect(gaps.longestUnownedMs).toBe(1000)
    expect(gaps.samples).toBe(4)
  })

  it("counts only the pods it is told to", () => {
    expect(shardSeconds(timeline, 4, 0, 4000, (p) => p.label === "a").unowned).toBe(2 + 2 + 0 + 2)
  })

  it("finds when the survivors agree, every shard is owned once, and who is held down", () => {
    expect(survivorsAgree(timeline[0]!, ["a", "b"], ["a", "b"])).toBe(true)
    expect(survivorsAgree(timeline[2]!, ["a", "b"], ["a", "b"])).toBe(false)
    expect(everyShardOwnedOnce(timeline[1]!, 4)).toBe(false)
    expect(firstAt(timeline, 500, (s) => everyShardOwnedOnce(s, 4))).toBe(3000)
    expect(heldDown(timeline[3]!, "c")).toBe(true)
    expect(heldDown(timeline[3]!, "a")).toBe(false)
  })
})
