/**
 * DnsResolver.layer against a real DNS server (unbound), and PeerDiscovery on top of it with a short
 * interval: what the unit tests assume of DNS, checked against the real thing.
 */
import { createSocket, type Socket } from "node:dgram"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import dnsPacket from "dns-packet"
import { Context, Duration, Effect, Layer, Option, Stream } from "effect"
import * as DnsResolver from "../src/DnsResolver.js"
import * as PeerDiscovery from "../src/PeerDiscovery.js"
import * as PeerDiscoveryConfig from "../src/PeerDiscoveryConfig.js"
import { DOMAIN, SRV_NAME } from "./support/fixtures.js"
import { freePort } from "@miroir/process-kit/freePort"
import { startUnbound, type Unbound } from "@miroir/test-support/unbound"

const srvRecord = (ip: string, total: number) =>
  `${SRV_NAME} 5 IN SRV 0 ${Math.max(1, Math.floor(100 / total))} 7700 ${ip.replaceAll(".", "-")}.${DOMAIN}`
const aRecord = (ip: string) => `${ip.replaceAll(".", "-")}.${DOMAIN} 5 IN A ${ip}`
const podIps = (n: number, offset = 0) =>
  Array.from({ length: n }, (_, i) => `10.1.${Math.floor((i + offset) / 250)}.${((i + offset) % 250) + 1}`)

/** The resolver of DnsResolver.layer, built from settings that point at `server`. */
const resolverFor = (server: string, timeout: Duration.Input = "1 second") =>
  DnsResolver.DnsResolver.pipe(
    Effect.provide(
      DnsResolver.layer.pipe(
        Layer.provide(
          PeerDiscoveryConfig.layerTest({ dnsServers: [server], lookupTimeout: Duration.fromInputUnsafe(timeout) })
        )
      )
    )
  )

const targets = (records: ReadonlyArray<DnsResolver.SrvRecord>) => records.map((r) => r.name.split(".")[0]).sort()

/** Asks `server` over UDP, without EDNS like c-ares does, and returns the decoded answer. */
const udpQuery = (port: number, name: string): Promise<dnsPacket.Packet> =>
  new Promise((resolve, reject) => {
    const socket = createSocket("udp4")
    const timer = setTimeout(() => (socket.close(), reject(new Error("no UDP answer"))), 2_000)
    socket.on("message", (message) => {
      clearTimeout(timer)
      socket.close()
      resolve(dnsPacket.decode(message))
    })
    socket.send(
      dnsPacket.encode({
        type: "query",
        id: 7,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type: "SRV", name }]
      }),
      port,
      "127.0.0.1"
    )
  })

describe("DnsResolver.layer against unbound", () => {
  let unbound: Unbound
  let large: Unbound
  let largeWithoutTcp: Unbound
  const LARGE_NAME = "_http._tcp.large.default.svc.cluster.local."
  const largeRecords = podIps(300).map((ip) =>
    `${LARGE_NAME} 5 IN SRV 0 1 7700 ${ip.replaceAll(".", "-")}.large.default.svc.cluster.local.`
  )

  beforeAll(async () => {
    ;[unbound, large, largeWithoutTcp] = await Promise.all([
      startUnbound({ records: [...podIps(3).map((ip) => srvRecord(ip, 3)), ...podIps(3).map(aRecord)] }),
      startUnbound({ records: largeRecords }),
      startUnbound({ records: largeRecords, tcp: false })
    ])
  })
  afterAll(async () => {
    await Promise.all([unbound?.stop(), large?.stop(), largeWithoutTcp?.stop()])
  })

  it.live("reads the SRV records of a name", () =>
    Effect.gen(function*() {
      const resolver = yield* resolverFor(unbound.server)
      const records = yield* resolver.resolveSrv(SRV_NAME)
      expect(targets(records)).toEqual(["10-1-0-1", "10-1-0-2", "10-1-0-3"])
      expect(records.every((r) => r.port === 7700 && r.priority === 0 && r.weight === 33)).toBe(true)
    }))

  it.live("reads A records, and says nodata for a name without them", () =>
    Effect.gen(function*() {
      const resolver = yield* resolverFor(unbound.server)
      expect(yield* resolver.resolveAddresses(`10-1-0-2.${DOMAIN}`)).toEqual(["10.1.0.2"])
      const error = yield* Effect.flip(resolver.resolveAddresses(SRV_NAME))
      expect(error.outcome).toBe("nodata")
    }))

  it.live("sees a change at the very next lookup: nothing caches in between", () =>
    Effect.gen(function*() {
      const resolver = yield* resolverFor(unbound.server)
      yield* Effect.promise(() => unbound.addRecords([srvRecord("10.1.0.4", 4)]))
      expect(targets(yield* resolver.resolveSrv(SRV_NAME))).toEqual(["10-1-0-1", "10-1-0-2", "10-1-0-3", "10-1-0-4"])
      yield* Effect.promise(async () => {
        await unbound.removeName(SRV_NAME)
        await unbound.addRecords(podIps(2).map((ip) => srvRecord(ip, 2)))
      })
      expect(targets(yield* resolver.resolveSrv(SRV_NAME))).toEqual(["10-1-0-1", "10-1-0-2"])
      yield* Effect.promise(() => unbound.addRecords([srvRecord("10.1.0.3", 3)]))
    }))

  it.live("says nxdomain for a name that does not exist (a Service without ready pods)", () =>
    Effect.gen(function*() {
      const resolver = yield* resolverFor(unbound.server)
      const error = yield* Effect.flip(resolver.resolveSrv("_http._tcp.nobody.default.svc.cluster.local."))
      expect(error.outcome).toBe("nxdomain")
      expect(error.isAnswer).toBe(true)
      const addresses = yield* Effect.flip(resolver.resolveAddresses("nobody.default.svc.cluster.local"))
      expect(addresses.outcome).toBe("nxdomain")
    }))

  it.live("says refused when the server refuses", () =>
    Effect.gen(function*() {
      const resolver = yield* resolverFor(unbound.server)
      const error = yield* Effect.flip(resolver.resolveSrv("_http._tcp.miroir.example.com."))
      expect(error.outcome).toBe("refused")
      expect(error.isAnswer).toBe(false)
    }))

  it.live("reads 300 records: the UDP answer is truncated and the TCP retry brings them all", () =>
    Effect.gen(function*() {
      const overUdp = yield* Effect.promise(() => udpQuery(large.port, LARGE_NAME))
      expect((overUdp.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE).not.toBe(0)
      const resolver = yield* resolverFor(large.server)
      const records = yield* resolver.resolveSrv(LARGE_NAME)
      expect(records).toHaveLength(300)
      expect(new Set(targets(records)).size).toBe(300)
      // The same server without TCP cannot deliver them: the success above came over TCP.
      const withoutTcp = yield* resolverFor(largeWithoutTcp.server)
      const failure = yield* Effect.flip(withoutTcp.resolveSrv(LARGE_NAME))
      expect(failure.isAnswer).toBe(false)
    }))

  it.live("says truncated past the largest answer: unbound sends TC with no records even over TCP", () =>
    Effect.scoped(Effect.gen(function*() {
      const HUGE_NAME = "_http._tcp.huge.default.svc.cluster.local."
      const huge = yield* Effect.acquireRelease(
        Effect.promise(() =>
          startUnbound({
            records: podIps(1_200).map((ip) =>
              `${HUGE_NAME} 5 IN SRV 0 1 7700 ${ip.replaceAll(".", "-")}.huge.default.svc.cluster.local.`
            )
          })
        ),
        (server) => Effect.promise(server.stop)
      )
      const resolver = yield* resolverFor(huge.server)
      const error = yield* Effect.flip(resolver.resolveSrv(HUGE_NAME))
      // node:dns took this for "no data" (no ready pods); it is an answer that does not fit.
      expect(error.outcome).toBe("truncated")
      expect(error.received).toBe(0)
      expect(error.isAnswer).toBe(false)
    })))

  it.live("says refused when nothing listens at the server's address", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const resolver = yield* resolverFor(`127.0.0.1:${port}`)
      const error = yield* Effect.flip(resolver.resolveSrv(SRV_NAME))
      expect(error.outcome).toBe("refused")
    }))

  it.live("says timeout, within the lookup timeout, when the server never answers", () =>
    Effect.gen(function*() {
      const silent: Socket = createSocket("udp4")
      const port = yield* Effect.promise(() => freePort())
      yield* Effect.callback<void>((resume) => void silent.bind(port, "127.0.0.1", () => resume(Effect.void)))
      const resolver = yield* resolverFor(`127.0.0.1:${port}`, "400 millis")
      const started = Date.now()
      const error = yield* Effect.flip(resolver.resolveSrv(SRV_NAME)).pipe(
        Effect.ensuring(Effect.sync(() => silent.close()))
      )
      expect(error.outcome).toBe("timeout")
      // Ended by its own 400 ms deadline (a lookup that ignored it would wait forever on the silent
      // server); the 10 s bound is only margin for a loaded machine.
      expect(Date.now() - started).toBeLessThan(10_000)
    }))
})

describe("PeerDiscovery against unbound", () => {
  let unbound: Unbound
  beforeAll(async () => {
    unbound = await startUnbound({ records: podIps(3).map((ip) => srvRecord(ip, 3)) })
  })
  afterAll(async () => {
    await unbound?.stop()
  })

  it.live("follows scale-up, removal and NXDOMAIN within an interval plus jitter", () =>
    Effect.gen(function*() {
      const settings = {
        podName: "miroir-abc",
        podIp: Option.some("10.1.0.1"),
        refreshInterval: Duration.millis(300),
        lookupTimeout: Duration.millis(200),
        dnsServers: [unbound.server]
      }
      const context = yield* Layer.build(
        PeerDiscovery.layer.pipe(
          Layer.provide(DnsResolver.layer),
          Layer.provide(PeerDiscoveryConfig.layerTest(settings))
        )
      )
      const discovery = Context.get(context, PeerDiscovery.PeerDiscovery)
      /** Waits (at most 2 s, about six intervals) until the peers are `expected`. */
      const expectPeers = (expected: ReadonlyArray<string>) =>
        discovery.membership.pipe(
          Stream.filter((set) => set.peers.join() === expected.join()),
          Stream.runHead,
          Effect.timeoutOrElse({
            duration: "2 seconds",
            orElse: () => Effect.fail(new Error(`peers never became ${expected.join()}`))
          }),
          Effect.andThen(discovery.current)
        )

      const initial = yield* discovery.current
      expect(initial.peers).toEqual(["10-1-0-1", "10-1-0-2", "10-1-0-3"])
      expect(initial.selfInDns).toBe(true)

      yield* Effect.promise(() => unbound.addRecords(["10.1.0.4", "10.1.0.5"].map((ip) => srvRecord(ip, 5))))
      yield* expectPeers(["10-1-0-1", "10-1-0-2", "10-1-0-3", "10-1-0-4", "10-1-0-5"])

      yield* Effect.promise(async () => {
        await unbound.removeName(SRV_NAME)
        await unbound.addRecords(["10.1.0.1", "10.1.0.2", "10.1.0.4", "10.1.0.5"].map((ip) => srvRecord(ip, 4)))
      })
      yield* expectPeers(["10-1-0-1", "10-1-0-2", "10-1-0-4", "10-1-0-5"])

      yield* Effect.promise(() => unbound.removeName(SRV_NAME))
      const alone = yield* expectPeers(["10-1-0-1"])
      expect(alone.stale).toBe(false)
      expect(alone.selfInDns).toBe(false)
    }))
})
