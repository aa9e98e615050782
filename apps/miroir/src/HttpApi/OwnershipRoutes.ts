/**
 * `GET /ownership` and `GET /ownership/audit`: the shards this pod owns, and the cluster-wide audit.
 * `/ownership` answers from the Rendezvous service (one computation per view and shard count, which gives
 * the event loop a turn every few milliseconds) with its JSON encoded once into bytes every answer shares,
 * and passes a RequestGate (a few at once, a bounded queue, then a 503 with `Retry-After`).
 */
import { PeerDiscovery, PeerSet, Rendezvous, ShardOwners } from "@miroir/peer-discovery"
import { Duration, Effect, Option, Schema } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { AppConfig } from "../AppConfig.js"
import * as OwnershipAudit from "../OwnershipAudit.js"
import { type AuditBody, Busy, OwnershipBody, PodApi } from "@miroir/pod-api"
import { type Busy as GateBusy, RequestGate, RETRY_AFTER_SECONDS } from "../RequestGate.js"

const currentSet = Effect.flatMap(PeerDiscovery.PeerDiscovery, (discovery) => discovery.current)

const encodeOwnership = Schema.encodeSync(OwnershipBody)
const ownershipBodies = new WeakMap<ShardOwners.ShardOwners, Map<string, Uint8Array>>()
const utf8 = new TextEncoder()

/**
 * The JSON of an `/ownership` answer as bytes, encoded once per (owners, self) and then shared by every
 * answer: at one peer and 65,536 shards it is 400 kB. As text, Node encoded it anew for each answer, and
 * kept that copy for as long as the client took to read it: a few hundred slow readers held a copy each.
 * As bytes, Node writes the one buffer and keeps only a reference to it. Kept as long as the owners are
 * (the Rendezvous service keeps a few views).
 */
const ownershipBytes = (owners: ShardOwners.ShardOwners, self: string): Uint8Array => {
  let bySelf = ownershipBodies.get(owners)
  if (bySelf === undefined) ownershipBodies.set(owners, bySelf = new Map())
  let bytes = bySelf.get(self)
  if (bytes === undefined) {
    bytes = utf8.encode(JSON.stringify(encodeOwnership({
      self,
      peers: owners.peers,
      digest: PeerSet.digestOf(owners.peers),
      shards: owners.shards,
      owned: ShardOwners.ownedBy(owners, self)
    })))
    // A pod answers about itself: one entry per owners, bounded by the callers, not by the requests.
    bySelf.set(self, bytes)
  }
  return bytes
}

/**
 * The 503 of a request the gate refused, made once per message (there are two, both constant) and then
 * shared: refusing must cost less than serving.
 */
const busyAnswers = new Map<string, HttpServerResponse.HttpServerResponse>()
const busyAnswer = (busy: GateBusy): HttpServerResponse.HttpServerResponse => {
  let answer = busyAnswers.get(busy.message)
  if (answer === undefined) {
    answer = new Busy({ error: busy.message, retryAfterSeconds: RETRY_AFTER_SECONDS }).response
    busyAnswers.set(busy.message, answer)
  }
  return answer
}

const auditMessage = (state: OwnershipAudit.AuditState, self: string): string => {
  const auditor = Option.getOrElse(state.auditor, () => "unknown")
  switch (state.status) {
    case "disabled":
      return "the ownership audit is off on this pod (MIROIR_OWNERSHIP_AUDIT_INTERVAL=off)"
    case "pending":
      return `${self} is the auditor; no audit has finished yet`
    case "audited":
      return `${self} is the auditor; last is its latest audit`
    case "not-auditor":
      return `${auditor} is the auditor in this pod's view: ask it`
  }
}

/** The handlers of the ownership group of the pod's API. */
export const ownershipGroup = HttpApiBuilder.group(PodApi, "ownership", (handlers) =>
  handlers
    // The answer is the cached JSON bytes (see ownershipBytes), and a refusal carries `Retry-After`: both
    // are responses built here rather than values the builder would encode.
    .handle("ownership", ({ query }) =>
      Effect.gen(function*() {
        const shards = query.shards ?? (yield* AppConfig).shards
        const gate = yield* RequestGate
        return yield* gate.run(Effect.gen(function*() {
          const rendezvous = yield* Rendezvous.Rendezvous
          const view = yield* rendezvous.view
          const owners = yield* rendezvous.owners(view.peers, shards)
          return HttpServerResponse.uint8Array(ownershipBytes(owners, view.set.self), {
            contentType: "application/json"
          })
        })).pipe(
          Effect.catchTag("Busy", (busy: GateBusy) => Effect.succeed(busyAnswer(busy)))
        )
      }))
    .handle("audit", () =>
      Effect.gen(function*() {
        const state = yield* Effect.flatMap(OwnershipAudit.OwnershipAudit, (service) => service.state)
        const set = yield* currentSet
        return {
          self: set.self,
          status: state.status,
          auditor: Option.getOrNull(state.auditor),
          intervalSeconds: Option.match(state.interval, {
            onNone: () => null,
            onSome: (d) => Duration.toMillis(d) / 1000
          }),
          message: auditMessage(state, set.self),
          last: Option.getOrNull(state.last)
        } satisfies typeof AuditBody.Type
      })))
