/**
 * The cluster DNS on a node's address, as a real node's pods ask it: CoreDNS with kubeadm's Corefile
 * caches nothing of cluster.local (a deleted Service's name is gone as soon as CoreDNS's watch sees the
 * deletion), while NodeLocal DNSCache's configuration in front of it keeps serving the old answer from
 * its 30 s cache after CoreDNS itself has dropped the name, and after CoreDNS has stopped.
 *
 * Queries go from the machine to the node's address on its bridge (a local address; the pod CIDR is
 * blackholed), through the library's own DNS client, which caches nothing. Needs root (the bridge) and
 * the components of scripts/install-test-deps.sh; without them it fails saying so.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DnsResolver } from "@miroir/peer-discovery"
import type { IService } from "kubernetes-models/v1/Service"
import { Duration, Effect, Option, Schedule, type Scope } from "effect"
import { describe, expect, it } from "vitest"
import * as ControlPlane from "../../src/kube/ControlPlane.js"
import * as CoreDns from "../../src/kube/CoreDns.js"
import * as Node from "../../src/kube/Node.js"

const NAME = "cached"
const FQDN = `${NAME}.default.svc.cluster.local`
const SERVICES = "/api/v1/namespaces/default/services"

/**
 * How long a change may take to reach CoreDNS's answers through its watch of the API server. CoreDNS's
 * informer sees an event in well under a second on a quiet machine; 20 s leaves room for a loaded one
 * and stays below the 30 s a `cache 30` would keep an answer, which is what the bound tells apart.
 */
const WATCH_DELAY = Duration.seconds(20)

/**
 * The addresses of FQDN's SRV answer at `server` (one question, as the pods ask theirs: the addresses come
 * in its additional section), or the outcome of a failed lookup (`nxdomain`, `timeout`…).
 */
const lookup = (server: string): Effect.Effect<string, never, Scope.Scope> =>
  DnsResolver.make({ servers: [server], timeout: Duration.seconds(2) }).pipe(
    Effect.flatMap((resolver) => resolver.resolveSrv(FQDN)),
    Effect.map((records) => records.flatMap((record) => record.addresses).sort().join(",")),
    Effect.catch((error) => Effect.succeed(error.outcome))
  )

/** Asks `server` every 200 ms until it answers `expected`; the time it took, or a failure naming the last answer. */
const awaitAnswer = (server: string, expected: string, within: Duration.Input) =>
  Effect.gen(function*() {
    const started = Date.now()
    let last = ""
    const answered = yield* Effect.scoped(lookup(server)).pipe(
      Effect.tap((answer) => Effect.sync(() => (last = answer))),
      Effect.repeat({ schedule: Schedule.spaced(Duration.millis(200)), until: (answer) => answer === expected }),
      Effect.timeoutOption(within)
    )
    if (Option.isNone(answered)) {
      return yield* Effect.fail(new Error(`${server} still answers ${last} for ${FQDN}, not ${expected}`))
    }
    return Date.now() - started
  })

describe("the cluster DNS on a node's address", () => {
  it("kubeadm's Corefile answers from the current Services; NodeLocal DNSCache serves its cache", async () => {
    const folder = mkdtempSync(join(tmpdir(), "miroir-dns-"))
    try {
      await Effect.runPromise(
        Effect.scoped(Effect.gen(function*() {
          const controlPlane = yield* ControlPlane.make(join(folder, "control-plane"))
          const network = yield* Node.network()
          const pods = `${network.address}:53`
          const api = controlPlane.api
          const create = api.request<IService>("POST", SERVICES, {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: NAME },
            spec: { ports: [{ port: 80 }] }
          }).pipe(Effect.map((service) => service.spec?.clusterIP ?? ""))
          const remove = api.request("DELETE", `${SERVICES}/${NAME}`)

          // kubeadm's Corefile: gone as soon as CoreDNS's watch sees the deletion, no 30 s cache.
          yield* Effect.scoped(Effect.gen(function*() {
            const coreDns = yield* CoreDns.make(join(folder, "kubeadm"), controlPlane.kubeconfig, {
              podAddress: network.address
            })
            expect(Option.isNone(coreDns.nodeLocalCache)).toBe(true)
            const ip = yield* create
            yield* awaitAnswer(pods, ip, WATCH_DELAY)
            yield* remove
            const gone = yield* awaitAnswer(pods, "nxdomain", WATCH_DELAY)
            yield* Effect.logInfo(
              `kubeadm's Corefile: the deleted Service's name gone from the node's address after ${gone} ms`
            )
          }))

          // NodeLocal DNSCache: CoreDNS drops the name, the cache keeps answering it; still so with CoreDNS stopped.
          yield* Effect.scoped(Effect.gen(function*() {
            const coreDns = yield* CoreDns.make(join(folder, "node-local"), controlPlane.kubeconfig, {
              podAddress: network.address,
              nodeLocalCache: true
            })
            expect(Option.isSome(coreDns.nodeLocalCache)).toBe(true)
            const ip = yield* create
            yield* awaitAnswer(pods, ip, WATCH_DELAY)
            const cachedAt = Date.now()
            yield* remove
            yield* awaitAnswer(coreDns.server, "nxdomain", WATCH_DELAY)
            // The cache answered at cachedAt and keeps the answer 30 s: within that, the old address.
            expect(yield* Effect.scoped(lookup(pods))).toBe(ip)
            yield* coreDns.stop
            const stale = yield* Effect.scoped(lookup(pods))
            const age = Date.now() - cachedAt
            yield* Effect.logInfo(
              `NodeLocal DNSCache: the deleted Service's address still served ${age} ms after it was cached`
            )
            // Past 30 s the entry may have expired on a very loaded machine: only then is the check void.
            if (age < 29_000) expect(stale).toBe(ip)
            yield* coreDns.start
            const expired = yield* awaitAnswer(pods, "nxdomain", Duration.seconds(45))
            yield* Effect.logInfo(
              `NodeLocal DNSCache: the name gone ${Date.now() - cachedAt} ms after it was cached (waited ${expired} ms)`
            )
          }))
        }))
      )
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  })
})
