/**
 * How this pod asks a peer (PeerMessaging, as the audit does): at the address PeerAddresses gives (the address in a dashed-IP id, what a
 * hostname resolves to), nothing guessed for any other id, and why it failed; what a ping's answer says.
 */
import { describe, expect, it } from "@effect/vitest"
import { DnsResolver, PeerDiscovery, PeerDiscoveryConfig, PeerId, PeerProbe, PeerSet } from "@miroir/peer-discovery"
import { Context, Duration, Effect, Layer } from "effect"
import { HttpClient, HttpClientResponse } from "effect/http"
import * as PeerAddresses from "../src/PeerAddresses.js"
import * as PeerMessaging from "../src/PeerMessaging.js"

describe("PeerMessaging.make", () => {
  const domain = PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)
  const answer = { self: "10-0-0-2", peers: ["10-0-0-1", "10-0-0-2"], digest: "abcd0123", shards: 4, owned: [1, 3] }

  /** The client over the test resolver and an HttpClient that records the URLs and answers `respond`. */
  const client = (respond: (url: URL) => Response) =>
    Effect.gen(function*() {
      const urls: Array<string> = []
      const http = HttpClient.make((request, url) =>
        Effect.sync(() => {
          urls.push(url.toString())
          return HttpClientResponse.fromWeb(request, respond(url))
        })
      )
      const dnsContext = yield* Layer.build(DnsResolver.layerTest)
      const addresses = yield* Layer.build(
        PeerAddresses.layer.pipe(
          Layer.provide(PeerDiscovery.layer),
          Layer.provide(Layer.succeedContext(dnsContext)),
          Layer.provide(PeerDiscoveryConfig.layerTest())
        )
      )
      const service = yield* PeerMessaging.make(7700).pipe(
        Effect.provideService(HttpClient.HttpClient, http),
        Effect.provide(Layer.succeedContext(addresses))
      )
      return { service, urls, dns: Context.get(dnsContext, DnsResolver.DnsResolverTest) }
    })

  it.effect("asks a Deployment pod at the address in its id, on the pods' port", () =>
    Effect.gen(function*() {
      const { service, urls } = yield* client(() => Response.json(answer))
      expect(yield* service.ownership("10-0-0-2", 4, "1 second")).toEqual(answer)
      expect(urls).toEqual(["http://10.0.0.2:7700/ownership?shards=4"])
      yield* service.ownership("fd00--1", 4, "1 second")
      expect(urls[1]).toBe("http://[fd00::1]:7700/ownership?shards=4")
    }))

  it.effect("asks a StatefulSet pod at the address its hostname resolves to under the Service", () =>
    Effect.gen(function*() {
      const { dns, service, urls } = yield* client(() => Response.json({ ...answer, self: "miroir-0", extra: true }))
      yield* dns.setAddresses(`miroir-0.${domain}`, ["10.0.0.7"])
      expect((yield* service.ownership("miroir-0", 4, "1 second")).self).toBe("miroir-0")
      expect(urls).toEqual(["http://10.0.0.7:7700/ownership?shards=4"])
    }))

  it.effect("says why a peer could not be asked: an id that resolves to nothing, an HTTP error, a bad answer", () =>
    Effect.gen(function*() {
      const { service } = yield* client((url) =>
        url.hostname === "10.0.0.3" ? new Response("busy", { status: 503 }) : Response.json({ self: 1 })
      )
      const reason = (peer: string) =>
        Effect.map(Effect.flip(service.ownership(peer, 4, "1 second")), (error) => error.reason)
      expect(yield* reason("miroir-9")).toBe(`id not an address, and miroir-9.${domain} does not resolve: nxdomain`)
      expect(yield* reason("10-0-0-3")).toBe("HTTP 503 from 10.0.0.3")
      expect(yield* reason("10-0-0-4")).toMatch(/^unexpected answer from 10\.0\.0\.4: /)
    }))

  it.effect("reads the peers a pinged pod holds down; an older pod's answer or one that does not decode holds none", () =>
    Effect.gen(function*() {
      const { service, urls } = yield* client((url) => {
        switch (url.hostname) {
          case "10.0.0.2":
            return Response.json({ status: "ok", down: ["10-0-0-3", "10-0-0-4"] })
          case "10.0.0.3":
            return Response.json({ status: "ok" })
          case "10.0.0.4":
            return Response.json({ status: "ok", down: "everybody" })
          case "10.0.0.6":
            return new Response("pong", { status: 200 })
          case "10.0.0.7":
            return new Response(null, { status: 200 })
          default:
            return new Response("busy", { status: 503 })
        }
      })
      expect(yield* service.ping("10-0-0-2", "1 second")).toEqual(["10-0-0-3", "10-0-0-4"])
      expect(urls).toEqual(["http://10.0.0.2:7700/ping"])
      expect(yield* service.ping("10-0-0-3", "1 second")).toEqual([])
      // The peer answered 200: it is there, whatever its body.
      expect(yield* service.ping("10-0-0-4", "1 second")).toEqual([])
      expect(yield* service.ping("10-0-0-6", "1 second")).toEqual([])
      expect(yield* service.ping("10-0-0-7", "1 second")).toEqual([])
      expect((yield* Effect.flip(service.ping("10-0-0-5", "1 second"))).reason).toBe("HTTP 503 from 10.0.0.5")
      // The failure detector's transport carries the list as the answer, and a failure as ProbeFailed.
      const probe = yield* PeerProbe.PeerProbe.pipe(
        Effect.provide(PeerMessaging.peerProbeLayer),
        Effect.provideService(PeerMessaging.PeerMessaging, service)
      )
      expect(yield* probe.ping(PeerId.PeerId("10-0-0-2"), Duration.seconds(1))).toEqual({
        down: ["10-0-0-3", "10-0-0-4"]
      })
      expect((yield* Effect.flip(probe.ping(PeerId.PeerId("10-0-0-5"), Duration.seconds(1))))._tag).toBe("ProbeFailed")
    }))

  it.effect("hints every other peer of a set about itself, and a peer that refuses fails nothing", () =>
    Effect.gen(function*() {
      const { service, urls } = yield* client((url) =>
        url.hostname === "10.0.0.3" ? new Response("busy", { status: 503 }) : Response.json({ result: "following" })
      )
      const set = {
        ...PeerSet.initial({ aliases: new Set(["10-0-0-1"]), fallback: PeerId.PeerId("10-0-0-1") }),
        peers: ["10-0-0-1", "10-0-0-2", "10-0-0-3"].map(PeerId.PeerId)
      }
      yield* service.hintAll("joined", set)
      expect([...urls].sort()).toEqual(["http://10.0.0.2:7700/hints", "http://10.0.0.3:7700/hints"])
    }))
})
