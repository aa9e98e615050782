/**
 * The failure detector's pings as the pod's server answers them, over loopback: `GET /ping` answers the
 * peers the detector holds down, following its changes (PingAnswer), and a ping from the address of a peer
 * of the view is told to the detector (PingsReceived), one from this pod or a stranger is not. Clients
 * connect from loopback addresses of their own (127.0.0.2: a peer; 127.0.0.3: a stranger).
 */
import { describe, expect, it } from "@effect/vitest"
import { get as httpGet } from "node:http"
import { DnsResolver, PeerDiscovery, PeerDiscoveryConfig, PeerHealth, PeerId } from "@miroir/peer-discovery"
import { PingAnswer as PingAnswerBody } from "@miroir/pod-api"
import { Context, Effect, Layer, Queue, Schema, Stream } from "effect"
import { HttpServer } from "effect/http"
import * as AppConfig from "../src/AppConfig.js"
import * as HttpApiServer from "../src/HttpApi/Server.js"
import * as PeerAddresses from "../src/PeerAddresses.js"
import * as PingAnswer from "../src/PingAnswer.js"
import * as PingsReceived from "../src/PingsReceived.js"
import { podSettings } from "./support/settings.js"

const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)
const DOMAIN = PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)

/** `GET path` of the server on 127.0.0.1:`port`, from `localAddress`: the body. */
const get = (port: number, path: string, localAddress: string) =>
  Effect.promise(() =>
    new Promise<string>((resolve, reject) => {
      const request = httpGet({ host: "127.0.0.1", port, path, localAddress, agent: false }, (response) => {
        let text = ""
        response.on("data", (chunk) => (text += String(chunk)))
        response.on("end", () => resolve(text))
      })
      request.on("error", reject)
    })
  )

/** Waits (real time, at most 5 s) until `check` holds. */
const eventually = (what: string, check: Effect.Effect<boolean>) =>
  Effect.gen(function*() {
    for (let tries = 0; tries < 500; tries++) {
      if (yield* check) return
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

/**
 * Pod 127.0.0.1's server, whose DNS lists itself and 127.0.0.2, over a detector whose verdicts the test
 * publishes (`changes`) and which records the peers it is told pinged this pod (`pinged`).
 */
const pod = Effect.gen(function*() {
  const changes = yield* Queue.unbounded<PeerHealth.Health>()
  const pinged: Array<string> = []
  const detector = Layer.succeed(PeerHealth.PeerHealth, {
    current: Effect.succeed(PeerHealth.healthy),
    changes: Stream.fromQueue(changes),
    departures: Stream.never,
    probeFor: () => Effect.succeed(true),
    pingedBy: (peer) => Effect.sync(() => void pinged.push(peer))
  })
  const dnsContext = yield* Layer.build(DnsResolver.layerTest)
  const dns = Context.get(dnsContext, DnsResolver.DnsResolverTest)
  yield* dns.setSrv(
    SRV_NAME,
    ["127-0-0-1", "127-0-0-2"].map((id) => ({ name: `${id}.${DOMAIN}`, port: 7700, priority: 0, weight: 50 }))
  )
  const settings = podSettings("127.0.0.1", 0)
  const addresses = PeerAddresses.layer.pipe(
    Layer.provide(PeerDiscovery.layer),
    Layer.provide(Layer.succeedContext(dnsContext)),
    Layer.provide(Layer.succeed(PeerDiscoveryConfig.PeerDiscoveryConfig, settings.discovery))
  )
  const context = yield* Layer.build(
    Layer.mergeAll(HttpApiServer.serverLayer, PingAnswer.layerFollowingHealth, PingsReceived.layerTellingDetector).pipe(
      Layer.provide(Layer.mergeAll(
        PingAnswer.layer,
        PingsReceived.layer,
        AppConfig.layer(settings.app),
        detector,
        addresses
      ))
    )
  )
  const { address } = Context.get(context, HttpServer.HttpServer)
  const port = address._tag === "UnixPathAddress" ? 0 : address.port
  return { port, changes, pinged }
})

const decode = Schema.decodeUnknownSync(Schema.fromJsonString(PingAnswerBody))

describe("GET /ping, answered by the server", () => {
  it.live("answers the peers the detector holds down, and follows its changes", () =>
    Effect.gen(function*() {
      const { changes, port } = yield* pod
      const ping = get(port, "/ping", "127.0.0.2")
      expect(yield* ping).toBe("{\"status\":\"ok\",\"down\":[]}")
      yield* Queue.offer(changes, {
        suspected: [],
        down: [PeerId.PeerId("127-0-0-2"), PeerId.PeerId("127-0-0-9")],
        fenced: false
      })
      yield* eventually("the answer to change", Effect.map(ping, (body) => body.includes("127-0-0-9")))
      const body = yield* ping
      expect(body).toBe("{\"status\":\"ok\",\"down\":[\"127-0-0-2\",\"127-0-0-9\"]}")
      expect(decode(body)).toEqual({ status: "ok", down: ["127-0-0-2", "127-0-0-9"] })
      // The kubelet's probes are still constants.
      expect(yield* get(port, "/healthz", "127.0.0.2")).toBe("{\"status\":\"ok\"}")
      yield* Queue.offer(changes, PeerHealth.healthy)
      yield* eventually(
        "the answer to change back",
        Effect.map(ping, (answer) => answer === "{\"status\":\"ok\",\"down\":[]}")
      )
    }))

  it.live("tells the detector of a ping from a peer of the view, not of one from this pod or a stranger", () =>
    Effect.gen(function*() {
      const { pinged, port } = yield* pod
      yield* get(port, "/ping", "127.0.0.2")
      yield* eventually("the peer's ping to be told", Effect.sync(() => pinged.length === 1))
      // The stranger's and this pod's own pings are read before the peer's next one (one queue, in order).
      yield* get(port, "/ping", "127.0.0.3")
      yield* get(port, "/ping", "127.0.0.1")
      yield* get(port, "/healthz", "127.0.0.2")
      yield* get(port, "/ping", "127.0.0.2")
      yield* eventually("the peer's second ping to be told", Effect.sync(() => pinged.length === 2))
      expect(pinged).toEqual(["127-0-0-2", "127-0-0-2"])
    }))
})
