/**
 * DnsResolver.layer's own DNS client against a server of ours that misbehaves on purpose: what a real
 * server rarely does, and what node:dns got wrong (a TCP answer with TC set taken as complete).
 */
import * as dns from "node:dns"
import { syncBuiltinESMExports } from "node:module"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import dnsPacket from "dns-packet"
import { Context, Duration, Effect, Exit, Fiber, Layer, Metric, Scope } from "effect"
import * as DnsResolver from "../src/DnsResolver.js"
import * as Metrics from "../src/Metrics.js"
import * as PeerDiscovery from "../src/PeerDiscovery.js"
import * as PeerDiscoveryConfig from "../src/PeerDiscoveryConfig.js"
import { DOMAIN, SRV_NAME } from "./support/fixtures.js"
import { waitUntil } from "@miroir/process-kit/Poll"
import { reply, type Script, type ScriptedDns, srv, startScriptedDns } from "@miroir/test-support/scriptedDns"
import { EDNS_PAYLOAD_SIZE } from "../src/internal/dnsMessage.js"

const resolverFor = (servers: ReadonlyArray<string>, timeout: Duration.Input = "1 second") =>
  DnsResolver.DnsResolver.pipe(
    Effect.provide(
      DnsResolver.layer.pipe(
        Layer.provide(
          PeerDiscoveryConfig.layerTest({ dnsServers: servers, lookupTimeout: Duration.fromInputUnsafe(timeout) })
        )
      )
    )
  )

const target = (i: number) => `10-2-0-${i}.${DOMAIN}`
const records = (n: number, owner = SRV_NAME) => Array.from({ length: n }, (_, i) => srv(owner, target(i + 1)))
const targets = (found: ReadonlyArray<DnsResolver.SrvRecord>) => found.map((r) => r.name.split(".")[0]).sort()

/** The answer every well-behaved server gives: all `n` records, over whichever transport was asked. */
const whole = (n: number): Script => (query) => ({ send: [reply(query, { answers: records(n) })] })

describe("DnsResolver.layer's DNS client against a scripted server", () => {
  let dnsServer: ScriptedDns
  let second: ScriptedDns
  beforeAll(async () => {
    ;[dnsServer, second] = await Promise.all([startScriptedDns(whole(3)), startScriptedDns(whole(3))])
  })
  afterAll(async () => {
    await Promise.all([dnsServer?.close(), second?.close()])
  })
  const use = (server: ScriptedDns, script: Script) =>
    Effect.sync(() => {
      server.setScript(script)
      server.queries.length = 0
    })

  it.live("asks over UDP with EDNS0, so an answer over 512 bytes comes without a TCP retry", () =>
    Effect.gen(function*() {
      const answer = (query: dnsPacket.DecodedPacket) => reply(query, { answers: records(12) })
      yield* use(dnsServer, (query) => ({ send: [answer(query)] }))
      const resolver = yield* resolverFor([dnsServer.server])
      const found = yield* resolver.resolveSrv(SRV_NAME)
      expect(found).toHaveLength(12)
      expect(answer(dnsServer.queries[0]!.packet).length).toBeGreaterThan(512)
      expect(dnsServer.queries.map((q) => q.transport)).toEqual(["udp"])
      const opt = dnsServer.queries[0]!.packet.additionals?.find((record) => record.type === "OPT")
      expect(opt).toMatchObject({ udpPayloadSize: EDNS_PAYLOAD_SIZE })
      expect(found[0]).toEqual({
        name: target(1).replace(/\.$/, ""),
        port: 7700,
        priority: 0,
        weight: 10,
        addresses: []
      })
    }))

  it.live("gives each target the addresses of the additional section, as CoreDNS sends them", () =>
    Effect.gen(function*() {
      const hostname = (label: string) => `${label}.${SRV_NAME.split(".").slice(2).join(".")}`
      yield* use(dnsServer, (query) => ({
        send: [reply(query, {
          answers: [
            {
              name: SRV_NAME,
              type: "SRV",
              ttl: 5,
              data: { priority: 0, weight: 50, port: 7700, target: hostname("miroir-0") }
            },
            {
              name: SRV_NAME,
              type: "SRV",
              ttl: 5,
              data: { priority: 0, weight: 50, port: 7700, target: hostname("miroir-1") }
            }
          ],
          additionals: [
            { name: hostname("miroir-0"), type: "A", ttl: 5, data: "10.2.0.10" },
            { name: hostname("MIROIR-0"), type: "AAAA", ttl: 5, data: "fd00:0:0:0:0:0:0:10" },
            // Not a target of the answer: no record carries it.
            { name: hostname("stranger"), type: "A", ttl: 5, data: "10.2.0.99" }
          ]
        })]
      }))
      const resolver = yield* resolverFor([dnsServer.server])
      const found = yield* resolver.resolveSrv(SRV_NAME)
      expect(found.map((record) => record.addresses)).toEqual([["10.2.0.10", "fd00::10"], []])
    }))

  it.live("asks again over TCP when the UDP answer is truncated, and takes the whole TCP answer", () =>
    Effect.gen(function*() {
      yield* use(dnsServer, (query, transport) => ({
        send: [
          transport === "udp"
            ? reply(query, { answers: records(2), truncated: true })
            : reply(query, { answers: records(40) })
        ]
      }))
      const resolver = yield* resolverFor([dnsServer.server])
      expect(yield* resolver.resolveSrv(SRV_NAME)).toHaveLength(40)
      expect(dnsServer.queries.map((q) => q.transport)).toEqual(["udp", "tcp"])
      // A fresh random id for each query.
      expect(dnsServer.queries[0]!.packet.id).not.toBe(dnsServer.queries[1]!.packet.id)
    }))

  it.live("fails with truncated when the TCP answer still has TC set: part of the records is not the set", () =>
    Effect.gen(function*() {
      yield* use(dnsServer, (query, transport) => ({
        send: [reply(query, { answers: records(transport === "udp" ? 0 : 25), truncated: true })]
      }))
      const resolver = yield* resolverFor([dnsServer.server])
      const error = yield* Effect.flip(resolver.resolveSrv(SRV_NAME))
      expect(error.outcome).toBe("truncated")
      expect(error.received).toBe(25)
      expect(error.isAnswer).toBe(false)
      expect(error.message).toContain("25 records received")
    }))

  it.live("takes a TCP answer with TC set and additional records: only extras were left out, as CoreDNS does", () =>
    Effect.gen(function*() {
      const address = (i: number): dnsPacket.Answer => ({
        type: "A",
        name: target(i).replace(/\.$/, ""),
        ttl: 5,
        class: "IN",
        data: `10.2.0.${i}`
      })
      yield* use(dnsServer, (query, transport) => ({
        send: [
          reply(query, {
            answers: records(transport === "udp" ? 0 : 25),
            additionals: transport === "udp" ? [] : [address(1), address(2)],
            truncated: true
          })
        ]
      }))
      const resolver = yield* resolverFor([dnsServer.server])
      expect(yield* resolver.resolveSrv(SRV_NAME)).toHaveLength(25)
    }))

  it.live("fails with truncated when the TCP connection ends in the middle of the answer", () =>
    Effect.gen(function*() {
      yield* use(dnsServer, (query, transport) =>
        transport === "udp"
          ? { send: [reply(query, { truncated: true })] }
          : { cut: reply(query, { answers: records(30) }), bytes: 1_000 })
      const resolver = yield* resolverFor([dnsServer.server])
      const error = yield* Effect.flip(resolver.resolveSrv(SRV_NAME))
      expect(error.outcome).toBe("truncated")
      expect(error.received).toBeGreaterThan(0)
      expect(error.received).toBeLessThan(30)
    }))

  it.live("ignores replies with another id or another question, which a spoofer could send first", () =>
    Effect.gen(function*() {
      const spoofed = (query: dnsPacket.DecodedPacket) => [
        reply(query, { id: (query.id! + 1) % 65_536, answers: [srv(SRV_NAME, `evil.${DOMAIN}`)] }),
        reply(query, {
          questions: [{ type: "SRV", name: "_http._tcp.other.default.svc.cluster.local" }],
          answers: [srv(SRV_NAME, `evil.${DOMAIN}`)]
        }),
        reply(query, { questions: [{ type: "A", name: SRV_NAME.replace(/\.$/, "") }] })
      ]
      yield* use(dnsServer, (query, transport) => ({
        send: transport === "udp"
          ? [...spoofed(query), reply(query, { answers: records(1), truncated: true })]
          : [...spoofed(query), reply(query, { answers: records(3) })]
      }))
      const resolver = yield* resolverFor([dnsServer.server])
      expect(targets(yield* resolver.resolveSrv(SRV_NAME))).toEqual(["10-2-0-1", "10-2-0-2", "10-2-0-3"])
      // Only spoofed replies: nothing is taken, the lookup times out.
      yield* use(dnsServer, (query) => ({ send: spoofed(query) }))
      const error = yield* Effect.flip(resolver.resolveSrv(SRV_NAME))
      expect(error.outcome).toBe("timeout")
    }))

  it.live("drops and counts records whose owner is not the name asked", () =>
    Effect.gen(function*() {
      const before = (yield* Metric.value(Metrics.ignoredRecordsWithReason("other_owner"))).count
      yield* use(dnsServer, (query) => ({
        send: [reply(query, {
          answers: [
            ...records(2),
            ...[1, 2, 3].map((i) => srv(`_http._tcp.other.${DOMAIN}`, `x-${i}.${DOMAIN}`))
          ]
        })]
      }))
      const resolver = yield* resolverFor([dnsServer.server])
      expect(targets(yield* resolver.resolveSrv(SRV_NAME))).toEqual(["10-2-0-1", "10-2-0-2"])
      expect((yield* Metric.value(Metrics.ignoredRecordsWithReason("other_owner"))).count - before).toBe(3)
      // Only foreign records: the name has no data.
      yield* use(
        dnsServer,
        (query) => ({ send: [reply(query, { answers: records(2, `_http._tcp.other.${DOMAIN}`) })] })
      )
      expect((yield* Effect.flip(resolver.resolveSrv(SRV_NAME))).outcome).toBe("nodata")
    }))

  it.live("PeerDiscovery over it: an SRV record with port 0 is no peer, and is counted", () =>
    Effect.gen(function*() {
      const before = (yield* Metric.value(Metrics.ignoredRecordsWithReason("port_zero"))).count
      yield* use(dnsServer, (query) => ({
        send: [
          reply(query, {
            answers: [srv(SRV_NAME, `10-0-0-1.${DOMAIN}`), srv(SRV_NAME, target(2)), srv(SRV_NAME, target(3), 0)]
          })
        ]
      }))
      const context = yield* Layer.build(PeerDiscovery.layer.pipe(
        Layer.provide(DnsResolver.layer),
        Layer.provide(
          PeerDiscoveryConfig.layerTest({ dnsServers: [dnsServer.server], lookupTimeout: Duration.seconds(1) })
        )
      ))
      const set = yield* Context.get(context, PeerDiscovery.PeerDiscovery).current
      expect(set.peers).toEqual(["10-0-0-1", "10-2-0-2"])
      expect((yield* Metric.value(Metrics.ignoredRecordsWithReason("port_zero"))).count - before).toBe(1)
    }))

  it.live("maps the RCODEs: NXDOMAIN, SERVFAIL, REFUSED, others; NOERROR without records is nodata", () =>
    Effect.gen(function*() {
      const resolver = yield* resolverFor([dnsServer.server])
      const cases = [["NXDOMAIN", "nxdomain"], ["SERVFAIL", "servfail"], ["REFUSED", "refused"], ["NOTIMP", "error"], [
        "NOERROR",
        "nodata"
      ]] as const
      for (const [rcode, outcome] of cases) {
        yield* use(dnsServer, (query) => ({ send: [reply(query, { rcode })] }))
        const error = yield* Effect.flip(resolver.resolveSrv(SRV_NAME))
        expect([rcode, error.outcome]).toEqual([rcode, outcome])
      }
    }))

  it.live("tries the servers in order: a refusing or silent first server, then the next one answers", () =>
    Effect.gen(function*() {
      yield* use(second, whole(2))
      yield* use(dnsServer, (query) => ({ send: [reply(query, { rcode: "REFUSED" })] }))
      const resolver = yield* resolverFor([dnsServer.server, second.server], "800 millis")
      expect(yield* resolver.resolveSrv(SRV_NAME)).toHaveLength(2)
      // A silent first server costs its share of the timeout (half of it), not all of it.
      yield* use(dnsServer, () => "silent")
      const started = Date.now()
      // Answered at all, within the lookup's 800 ms: the silent first server did not take the whole timeout
      // (the lookup would have failed with `timeout`); it took its share, half of it.
      expect(yield* resolver.resolveSrv(SRV_NAME)).toHaveLength(2)
      expect(Date.now() - started).toBeGreaterThanOrEqual(350)
      // An answer from the first (NXDOMAIN) ends the lookup: the second is not asked.
      yield* use(dnsServer, (query) => ({ send: [reply(query, { rcode: "NXDOMAIN" })] }))
      yield* use(second, whole(2))
      expect((yield* Effect.flip(resolver.resolveSrv(SRV_NAME))).outcome).toBe("nxdomain")
      expect(second.queries).toHaveLength(0)
    }))

  it.live("closes the TCP connection when a lookup is interrupted or times out", () =>
    Effect.gen(function*() {
      yield* use(dnsServer, (query, transport) =>
        transport === "udp" ? { send: [reply(query, { truncated: true })] } : "silent")
      const resolver = yield* resolverFor([dnsServer.server], "5 seconds")
      const lookup = yield* Effect.forkChild(resolver.resolveSrv(SRV_NAME))
      yield* connections(dnsServer, 1)
      yield* Fiber.interrupt(lookup)
      yield* connections(dnsServer, 0)
      const timedOut = yield* resolverFor([dnsServer.server], "300 millis")
      expect((yield* Effect.flip(timedOut.resolveSrv(SRV_NAME))).outcome).toBe("timeout")
      yield* connections(dnsServer, 0)
    }))

  it.live("ends the lookups in flight when the resolver's scope closes: sockets closed, lookups failed", () =>
    Effect.gen(function*() {
      yield* use(
        dnsServer,
        (query, transport) => transport === "udp" ? { send: [reply(query, { truncated: true })] } : "silent"
      )
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        DnsResolver.layer.pipe(
          Layer.provide(
            PeerDiscoveryConfig.layerTest({ dnsServers: [dnsServer.server], lookupTimeout: Duration.seconds(5) })
          )
        ),
        scope
      )
      const lookup = yield* Effect.forkChild(Context.get(context, DnsResolver.DnsResolver).resolveSrv(SRV_NAME))
      yield* connections(dnsServer, 1)
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(Fiber.join(lookup))
      expect(error.outcome).toBe("error")
      // Ended by the scope, not by its 5 s timeout (whose outcome would be `timeout`).
      expect(error.code).toContain("ECANCELED")
      yield* connections(dnsServer, 0)
    }))

  it.live("reads A and AAAA together; a truncated half fails the whole", () =>
    Effect.gen(function*() {
      const name = `10-2-0-1.${DOMAIN}`
      yield* use(dnsServer, (query) => {
        const type = query.questions![0]!.type
        if (type === "A") {
          return {
            send: [
              reply(query, { answers: [{ type: "A", name: name.slice(0, -1), ttl: 5, class: "IN", data: "10.2.0.1" }] })
            ]
          }
        }
        return {
          send: [
            reply(query, { answers: [{ type: "AAAA", name: name.slice(0, -1), ttl: 5, class: "IN", data: "fd00::1" }] })
          ]
        }
      })
      const resolver = yield* resolverFor([dnsServer.server])
      expect([...(yield* resolver.resolveAddresses(name))].sort()).toEqual(["10.2.0.1", "fd00::1"])
      yield* use(dnsServer, (query) =>
        query.questions![0]!.type === "A"
          ? {
            send: [
              reply(query, { answers: [{ type: "A", name: name.slice(0, -1), ttl: 5, class: "IN", data: "10.2.0.1" }] })
            ]
          }
          : { send: [reply(query, { truncated: true })] })
      expect((yield* Effect.flip(resolver.resolveAddresses(name))).outcome).toBe("truncated")
    }))

  it.live("asks the system resolver's servers when none are configured", () =>
    Effect.gen(function*() {
      yield* use(dnsServer, whole(3))
      const saved = dns.getServers()
      // ES module bindings of node:dns keep the old functions after setServers until synced.
      const setSystemServers = (servers: ReadonlyArray<string>) => {
        dns.setServers(servers)
        syncBuiltinESMExports()
      }
      setSystemServers([dnsServer.server])
      // Never ask a server beyond loopback: stop here if the system's servers did not change.
      expect(dns.getServers()).toEqual([dnsServer.server])
      const resolver = yield* resolverFor([]).pipe(Effect.ensuring(Effect.sync(() => setSystemServers(saved))))
      expect(yield* resolver.resolveSrv(SRV_NAME)).toHaveLength(3)
    }))
})

describe("DnsResolver.layer over IPv6", () => {
  it.live("asks a server at [::1]", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(Effect.promise(() => startScriptedDns(whole(2), "::1")), (s) =>
        Effect.promise(s.close))
      const resolver = yield* resolverFor([server.server])
      expect(yield* resolver.resolveSrv(SRV_NAME)).toHaveLength(2)
      server.setScript((query, transport) => ({
        send: [reply(query, { answers: records(transport === "udp" ? 1 : 30), truncated: transport === "udp" })]
      }))
      expect(yield* resolver.resolveSrv(SRV_NAME)).toHaveLength(30)
    }).pipe(Effect.scoped))
})

/** Waits until the scripted server holds `n` open TCP connections (polled every 10 ms, at most 2 s). */
const connections = (server: ScriptedDns, n: number) =>
  waitUntil(`${n} open connections`, Effect.sync(() => server.openConnections() === n), {
    timeout: Duration.seconds(2),
    interval: Duration.millis(10)
  })
