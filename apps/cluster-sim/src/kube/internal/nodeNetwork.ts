/**
 * A real node's network on the machine: its bridge `miroir-nN` with the address `10.244.N.1/24` (the
 * node's IP), forwarding on that bridge alone and only towards a node's bridge, and the blackhole routes
 * of the pods' range and the ClusterIP range, so that nothing addressed to a pod or a Service leaves the
 * machine. Everything is undone when the scope closes.
 */
import { writeFileSync } from "node:fs"
import { Effect, type Scope } from "effect"
import { SERVICE_CIDR } from "../ControlPlane.js"
import * as Host from "./host.js"
import { failedAt, NodeError } from "./nodeError.js"

/** The range every node's pod CIDR is taken from; blackholed in the machine's namespace. */
export const POD_SUPERNET = "10.244.0.0/16"

/** A node's network, made by {@link network}. */
export interface Network {
  /** N of `10.244.N.0/24`. */
  readonly index: number
  readonly podCidr: string
  /** `10.244.N.1`, on the bridge: the node's IP, where the host meets the pods. */
  readonly address: string
  /** The bridge (`miroir-nN`) and the CNI network's name (`miroir-nN`, unique on the machine). */
  readonly bridge: string
  readonly networkName: string
}

const links = () =>
  Host.run("ip", ["-o", "link", "show"]).pipe(
    Effect.map((text) =>
      text.split("\n").map((line) => line.split(": ")[1]?.split("@")[0]).filter((name): name is string =>
        name !== undefined
      )
    )
  )

/**
 * A blackhole route for `cidr` unless the machine has one; removed when the scope closes, once no node's
 * bridge is left (another node's, of this run or another, keeps it).
 */
const blackhole = (cidr: string, routes: string) =>
  routes.split("\n").some((line) => line.startsWith(`blackhole ${cidr}`))
    ? Effect.void
    : Effect.asVoid(Effect.acquireRelease(
      Host.run("ip", ["route", "add", "blackhole", cidr]).pipe(Effect.mapError(failedAt(`blackhole route ${cidr}`))),
      () =>
        links().pipe(
          Effect.orElseSucceed((): ReadonlyArray<string> => []),
          Effect.flatMap((now) =>
            now.some((name) => /^miroir-n\d+$/.test(name))
              ? Effect.void
              : Host.attempt("ip", ["route", "del", "blackhole", cidr])
          )
        )
    ))

/**
 * Makes the node's bridge with the address `10.244.N.1/24` (N the first index no route or link of the
 * machine uses, or `index`), lets packets that come in on it be forwarded (to Services' endpoints, after
 * kube-proxy's rewrite) but only to a node's bridge, and adds the blackhole routes of {@link POD_SUPERNET}
 * and of the ClusterIP range if the machine has none; undoes all of it when the scope closes (the
 * blackholes only when no other node's bridge is left).
 */
export const network = (index?: number): Effect.Effect<Network, NodeError, Scope.Scope> =>
  Effect.gen(function*() {
    if (process.getuid?.() !== 0) {
      return yield* new NodeError({
        step: "network",
        reason: "a real node needs root (bridges, routes, mounts, cgroups)"
      })
    }
    const routes = yield* Host.run("ip", ["-4", "-o", "route", "show", "table", "all"]).pipe(
      Effect.mapError(failedAt("network"))
    )
    const names = yield* links().pipe(Effect.mapError(failedAt("network")))
    const taken = (n: number) =>
      names.includes(`miroir-n${n}`) ||
      routes.split("\n").some((line) => /^(\S+ )?10\.244\.(\d+)\./.exec(line)?.[2] === String(n))
    const chosen = index ?? Array.from({ length: 254 }, (_, i) => i).find((n) => !taken(n))
    if (chosen === undefined || taken(chosen)) {
      return yield* new NodeError({
        step: "network",
        reason: `no free /24 in ${POD_SUPERNET} (routes:\n${routes})`
      })
    }
    const bridge = `miroir-n${chosen}`
    const address = `10.244.${chosen}.1`

    yield* blackhole(POD_SUPERNET, routes)
    yield* blackhole(SERVICE_CIDR, routes)
    yield* Effect.acquireRelease(
      Host.run("ip", ["link", "add", "name", bridge, "type", "bridge"]).pipe(
        Effect.andThen(Host.run("ip", ["addr", "add", `${address}/24`, "dev", bridge])),
        Effect.andThen(Host.run("ip", ["link", "set", bridge, "up"])),
        Effect.mapError(failedAt("bridge"))
      ),
      () => Host.attempt("ip", ["link", "del", bridge])
    )
    // Forwarding on this interface alone (a setting that goes with the bridge), and never off the nodes'
    // bridges: nothing a pod sends can leave the machine.
    const forwardRule = ["FORWARD", "-i", bridge, "!", "-o", "miroir-n+", "-j", "DROP"]
    yield* Effect.acquireRelease(
      Host.run("iptables", ["-w", "5", "-I", ...forwardRule]).pipe(Effect.mapError(failedAt("forwarding rule"))),
      () => Host.attempt("iptables", ["-w", "5", "-D", ...forwardRule])
    )
    yield* Effect.try({
      try: () => writeFileSync(`/proc/sys/net/ipv4/conf/${bridge}/forwarding`, "1"),
      catch: (e) => failedAt("forwarding")(e as Error)
    })
    return { index: chosen, podCidr: `10.244.${chosen}.0/24`, address, bridge, networkName: bridge }
  })
