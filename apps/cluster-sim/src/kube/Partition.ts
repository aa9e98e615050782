/**
 * A network partition between pods of the real nodes: an nftables table of the `bridge` family, of a
 * name unique to this process and partition, whose chain on the bridges' prerouting hook drops what one
 * set of pod addresses sends to another. Every packet a pod sends enters its node's bridge through its
 * veth, whether it goes to a pod of the same node (bridged) or of another (routed by the machine between
 * the nodes' bridges), so one hook sees them all; the nodes' own addresses (the kubelet's probes, CoreDNS,
 * the harness reading the pods) are never in the sets, so the pods stay ready and observable.
 *
 * - two-way: every IPv4 packet from either set to the other is dropped;
 * - one-way: `from` can no longer open a TCP connection to `to` (its SYNs are dropped), while `to` still
 *   opens connections to `from` and gets their answers. The pod API is HTTP over TCP, for which dropping
 *   the packets of one direction alone would cut both (no handshake completes): what is one-way is who
 *   can ask whom.
 *
 * Only addresses inside the pod CIDRs of the harness's nodes are accepted; the table is deleted when
 * {@link Partition.heal} runs or the scope closes, whichever comes first.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Data, Effect, type Scope } from "effect"
import * as Host from "./internal/host.js"
import type { Network } from "./Node.js"

/** A partition that could not be made; `reason` says why. */
export class PartitionError extends Data.TaggedError("PartitionError")<{ readonly reason: string }> {
  override get message(): string {
    return `network partition: ${this.reason}`
  }
}

/** Which traffic the partition drops (see the module's comment). */
export type Direction = "two-way" | "one-way"

/** What to cut. */
export interface Options {
  /** The nodes' networks: every address must be a pod's of one of them. */
  readonly networks: ReadonlyArray<Network>
  /** Pod IPs on one side. */
  readonly from: ReadonlyArray<string>
  /** Pod IPs on the other. */
  readonly to: ReadonlyArray<string>
  readonly direction: Direction
}

/** A partition in place. */
export interface Partition {
  /** The nftables table (`bridge <name>`). */
  readonly table: string
  /** When the rules were in place (ms since the epoch). */
  readonly cutAt: number
  /**
   * Deletes the table: the pods reach each other again (once; later calls do nothing). Succeeds with the
   * packets the rules dropped (their counters, read just before), which shows the cut was crossed at all.
   */
  readonly heal: Effect.Effect<number>
}

let made = 0

/** Whether `ip` is a pod's address of `network`: in its /24, neither the node's own `.1` nor the broadcast. */
export const isPodAddress = (network: Network, ip: string): boolean => {
  const prefix = network.podCidr.replace(/0\/24$/, "")
  if (!ip.startsWith(prefix)) return false
  const host = Number(ip.slice(prefix.length))
  return /^\d+$/.test(ip.slice(prefix.length)) && host > 1 && host < 255
}

/** The nftables script of the table: a set per side and the drop rules of `direction`. */
export const rules = (table: string, from: ReadonlyArray<string>, to: ReadonlyArray<string>, direction: Direction) => {
  const set = (name: string, ips: ReadonlyArray<string>) =>
    `  set ${name} { type ipv4_addr; elements = { ${ips.join(", ")} } }`
  const drops = direction === "two-way"
    ? ["    ip saddr @from ip daddr @to counter drop", "    ip saddr @to ip daddr @from counter drop"]
    : ["    ip saddr @from ip daddr @to tcp flags & (syn | ack) == syn counter drop"]
  return [
    `table bridge ${table} {`,
    set("from", from),
    set("to", to),
    "  chain cut {",
    // Before anything else of the bridge family (conntrack's -200 does not exist on bridges without it).
    "    type filter hook prerouting priority -300; policy accept;",
    ...drops,
    "  }",
    "}",
    ""
  ].join("\n")
}

/** The packets of every `counter packets N bytes M` of a listed table, summed. */
export const droppedPackets = (listing: string): number =>
  [...listing.matchAll(/counter packets (\d+)/g)].reduce((total, match) => total + Number(match[1]), 0)

/** Loads `script` with `nft -f`, from a file of its own (removed after): one transaction, all or nothing. */
const load = (table: string, script: string) =>
  Effect.gen(function*() {
    const folder = mkdtempSync(join(tmpdir(), `${table}-`))
    const file = join(folder, "rules.nft")
    writeFileSync(file, script)
    yield* Host.run("nft", ["-f", file]).pipe(
      Effect.ensuring(Effect.sync(() => rmSync(folder, { recursive: true, force: true }))),
      Effect.mapError((error) => new PartitionError({ reason: `${error.message}\n${script}` }))
    )
  })

/** Cuts `from` from `to` as `direction` says, until {@link Partition.heal} or the scope's end. */
export const make = (options: Options): Effect.Effect<Partition, PartitionError, Scope.Scope> =>
  Effect.gen(function*() {
    const { direction, from, networks, to } = options
    const outside = [...from, ...to].filter((ip) => !networks.some((network) => isPodAddress(network, ip)))
    if (outside.length > 0 || from.length === 0 || to.length === 0) {
      return yield* new PartitionError({
        reason: `only pod addresses of the harness's nodes (${
          networks.map((n) => n.podCidr).join(", ")
        }), on both sides: ${outside.length > 0 ? `not theirs: ${outside.join(", ")}` : "a side is empty"}`
      })
    }
    if (from.some((ip) => to.includes(ip))) {
      return yield* new PartitionError({ reason: "an address is on both sides" })
    }
    made += 1
    const table = `miroir_partition_${process.pid}_${made}`
    let healed: number | undefined
    const heal = Effect.suspend(() => {
      if (healed !== undefined) return Effect.succeed(healed)
      return Host.run("nft", ["list", "table", "bridge", table]).pipe(
        Effect.map(droppedPackets),
        Effect.orElseSucceed(() => 0),
        Effect.tap((dropped) =>
          Effect.andThen(
            Effect.sync(() => {
              healed = dropped
            }),
            Host.attempt("nft", ["delete", "table", "bridge", table])
          )
        )
      )
    })
    yield* Effect.acquireRelease(
      load(table, rules(table, from, to, direction)),
      () => heal
    )
    return { table, cutAt: Date.now(), heal }
  })
