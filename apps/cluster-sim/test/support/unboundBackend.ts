/**
 * unbound as the cluster DNS of the simulated cluster: the endpoints controller's changes become
 * `unbound-control` calls (applied in order), and an outage turns the zone to `always_deny`, so that
 * queries go unanswered while changes still apply.
 * It shows that what the simulator's DNS serves, a real server serves the same way.
 */
import { startUnbound } from "@miroir/test-support/unbound"
import { Effect, type Scope } from "effect"
import type { DnsBackend } from "../../src/simulator/ClusterDns.js"
import { defaultService, type Endpoint, endpointLabel, serviceDomain, srvName } from "../../src/simulator/DnsAnswers.js"

const domain = `${serviceDomain(defaultService)}.`

/**
 * A DNS backend over a fresh unbound. Changes are applied in order in the background; the server is
 * stopped only after the last one (the controller publishes once more while its pods terminate).
 */
export const make: Effect.Effect<DnsBackend, never, Scope.Scope> = Effect.gen(function*() {
  let applied: Promise<void> = Promise.resolve()
  const unbound = yield* Effect.acquireRelease(
    Effect.promise(() => startUnbound()),
    (server) => Effect.promise(() => applied.then(server.stop))
  )
  let published: ReadonlyArray<Endpoint> = []
  const srv = `${srvName(defaultService)}.`
  return {
    name: "unbound",
    server: unbound.server,
    spec: defaultService,
    setEndpoints: (endpoints) => {
      const previous = published
      published = [...endpoints]
      applied = applied.then(async () => {
        await unbound.removeNames([srv, ...previous.map((endpoint) => `${endpointLabel(endpoint)}.${domain}`)])
        const weight = Math.max(1, Math.floor(100 / Math.max(1, endpoints.length)))
        await unbound.addRecords(endpoints.flatMap((endpoint) => {
          const target = `${endpointLabel(endpoint)}.${domain}`
          return [
            `${srv} ${defaultService.ttl} IN SRV 0 ${weight} ${defaultService.port} ${target}`,
            `${target} ${defaultService.ttl} IN A ${endpoint.ip}`
          ]
        }))
      })
    },
    setOutage: (on) => {
      applied = applied.then(() => unbound.setClusterZone(on ? "always_deny" : "static"))
    }
  }
})
