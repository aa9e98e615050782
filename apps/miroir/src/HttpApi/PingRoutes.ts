/**
 * `GET /ping` and `GET /probe?peer=`: the failure detector's probes (the library's PeerHealth). The server
 * answers `/ping` itself, before any queue (Server.ts's guarded server), as it answers the kubelet's probes;
 * the route here serves it on a server in memory. `/probe` pings a peer for another pod.
 */
import { PeerDiscovery, PeerHealth, PeerId } from "@miroir/peer-discovery"
import { BadRequest, Forbidden, PodApi, ProbingOff } from "@miroir/pod-api"
import { Duration, Effect, Metric, Option } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import * as AppMetrics from "../AppMetrics.js"
import { excerpt } from "../internal/excerpt.js"
import { PeerAddresses } from "../PeerAddresses.js"

const currentSet = Effect.flatMap(PeerDiscovery.PeerDiscovery, (discovery) => discovery.current)

/**
 * The handlers of the ping group: `/ping` answers at once, with the peers this pod holds down (as the
 * server's own answer, PingAnswer.ts, does); `/probe?peer=` is a ping made for a peer of this
 * pod's view, asked only from the address of a peer of its view (PeerAddresses.senderOf, as hints are), so
 * that a stranger cannot make a pod probe anything.
 */
export const pingGroup = HttpApiBuilder.group(
  PodApi,
  "ping",
  (handlers) =>
    handlers
      .handle("ping", () =>
        Effect.map(
          Effect.flatMap(PeerHealth.PeerHealth, (detector) => detector.current),
          (health) => ({ status: "ok" as const, down: health.down })
        ))
      .handle("probe", ({ query, request }) =>
        Effect.gen(function*() {
          const peer = PeerId.PeerId(query.peer)
          const source = Option.getOrElse(request.remoteAddress, () => "")
          const sender = yield* Effect.flatMap(PeerAddresses, (addresses) => addresses.senderOf(peer, source))
          // Only a peer may ask: the pod named is the one to be probed, not a sender.
          if (sender !== "peer") {
            return yield* Effect.fail(
              new Forbidden({
                error: `a probe is asked only by a peer of this pod's view, not from ${
                  source === "" ? "an unknown address" : source
                }`,
                source
              })
            )
          }
          yield* Metric.update(AppMetrics.probesReceivedOf("indirect"), 1)
          const detector = yield* PeerHealth.PeerHealth
          const silentFor = Duration.millis(query.silentForMs ?? 0)
          const answered = yield* detector.probeFor(peer, silentFor).pipe(
            Effect.catchTag("NotProbing", (refused) =>
              Effect.fail(
                refused.reason === "off"
                  ? new ProbingOff({ error: refused.message })
                  : new BadRequest({ error: refused.message, parameter: "peer", value: excerpt(query.peer) })
              ))
          )
          const self = yield* Effect.map(currentSet, (set) => set.self)
          return { self, peer, answered }
        }))
)
