/**
 * The JSON bodies of the pod API's answers and requests, as Schemas: what a pod sends and what its peers,
 * the simulator, the benchmarks and the tests read are decoded by the same declarations.
 */
import { Effect, Schema } from "effect"

/** The JSON body of `GET /peers`. */
export const PeersBody = Schema.Struct({
  self: Schema.String,
  /** Sorted. */
  peers: Schema.Array(Schema.String),
  /** ISO-8601 time of the last DNS answer; null before the first. */
  refreshedAt: Schema.NullOr(Schema.String),
  stale: Schema.Boolean,
  selfInDns: Schema.Boolean,
  /** Digest of the view (PeerSet.digest): pods that agree on their peers show the same one. */
  digest: Schema.String,
  /** Listed peers this pod's failure detector suspects (a probe and the indirect probes failed); sorted. */
  suspected: Schema.Array(Schema.String),
  /** Listed peers it holds down: their shards went to the next owners; sorted. */
  down: Schema.Array(Schema.String),
  /** True while this pod's probes reach no peer: it holds its own shards back. */
  fenced: Schema.Boolean
})

/**
 * The JSON body of `GET /probe?peer=<id>`: whether `peer` answered this pod's ping, made for the asker (an
 * indirect probe of the failure detector): `true` an ack, `false` a nack.
 */
export const ProbeAnswer = Schema.Struct({
  self: Schema.String,
  peer: Schema.String,
  answered: Schema.Boolean
})

/**
 * The JSON body of `GET /ownership`. The ownership audit reads peers' answers with it too; decoding
 * ignores fields it does not know, so that a newer pod still answers an older auditor.
 */
export const OwnershipBody = Schema.Struct({
  self: Schema.String,
  peers: Schema.Array(Schema.String),
  /** Digest of the view the shards were computed over. */
  digest: Schema.String,
  shards: Schema.Int,
  /** Ascending. */
  owned: Schema.Array(Schema.Int)
})

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * One ownership audit's findings, as `GET /ownership/audit` carries them. Lists are bounded (the pod's
 * audit lists at most 20 items of each); the counts are complete.
 */
export const AuditReport = Schema.Struct({
  /** The auditor's id. */
  auditor: Schema.String,
  /** ISO-8601 time the audit finished. */
  at: Schema.String,
  durationMs: Schema.Number,
  /** Shards `0 … shards - 1` were audited (the auditor's `MIROIR_SHARDS`). */
  shards: Count,
  /** The auditor's view's digest. */
  digest: Schema.String,
  /** Peers in the auditor's view, itself included. */
  peersAsked: Count,
  /** Of those, the ones that answered (the auditor included). */
  answered: Count,
  /** True when there is nothing below. */
  ok: Schema.Boolean,
  /** Shards no answering pod claims, other than those of peers that did not answer. */
  unowned: Schema.Struct({ count: Count, shards: Schema.Array(Count) }),
  /** Shards claimed by more than one pod, with the pods (as asked). */
  multiOwned: Schema.Struct({
    count: Count,
    shards: Schema.Array(Schema.Struct({ shard: Count, owners: Schema.Array(Schema.String) }))
  }),
  /** Shards the auditor's view gives to peers that did not answer: nobody knows who works on them. */
  unknownShards: Count,
  /** Peers that did not answer, and why. */
  unreachable: Schema.Struct({
    count: Count,
    peers: Schema.Array(Schema.Struct({ peer: Schema.String, reason: Schema.String }))
  }),
  /** The views among the answers, most common first. */
  views: Schema.Struct({
    distinct: Count,
    views: Schema.Array(Schema.Struct({
      digest: Schema.String,
      /** Pods holding this view. */
      pods: Count,
      /** Peers in this view. */
      peers: Count,
      /** A few of the pods holding it (as asked). */
      heldBy: Schema.Array(Schema.String)
    }))
  }),
  /** The auditor's failure detector: the peers it suspects and holds down, and whether it is fenced. */
  health: Schema.Struct({
    suspected: Schema.Array(Schema.String),
    down: Schema.Array(Schema.String),
    fenced: Schema.Boolean
  }),
  /** Peers that answered under another id than the one asked. */
  identityMismatches: Schema.Struct({
    count: Count,
    peers: Schema.Array(Schema.Struct({ peer: Schema.String, answeredAs: Schema.String }))
  })
})

/** The JSON body of `GET /ownership/audit`. */
export const AuditBody = Schema.Struct({
  self: Schema.String,
  /**
   * `disabled`: the audit is off on this pod; `pending`: it is the auditor, no audit finished yet; `audited`:
   * it is the auditor, `last` is its latest audit; `not-auditor`: another pod audits (`auditor`).
   */
  status: Schema.Literals(["disabled", "pending", "audited", "not-auditor"]),
  /** The auditor in this pod's view (the owner of the audit key); null while disabled. */
  auditor: Schema.NullOr(Schema.String),
  /** Seconds between audits; null while disabled. */
  intervalSeconds: Schema.NullOr(Schema.Number),
  /** What the status means, in a sentence. */
  message: Schema.String,
  /** This pod's last audit; null if it has not audited. */
  last: Schema.NullOr(AuditReport)
})

/** The JSON body of `POST /hints`: a refresh hint, sent by a pod to its peers. */
export const HintBody = Schema.Struct({
  kind: Schema.Literals(["joined", "left"]),
  /** The id of the peer the hint is about (the sender itself), as DNS lists it. */
  peer: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(253))
})

/** The JSON answer to `POST /hints`: what became of the hint (`off` when `MIROIR_PEER_HINTS=off`). */
export const HintAnswer = Schema.Struct({
  result: Schema.Literals(["following", "pending", "agreed", "full", "off"])
})

/**
 * The JSON body of `GET /ping`: the pod is there, and `down` lists the peers its failure detector holds
 * down (sorted), so that a pod its peers cannot reach, but that reaches them, learns from their answers
 * that they hold it down (and fences itself). `down` may be absent on decode: an older pod answers
 * `{"status":"ok"}`, which tells nothing but that it is there (`down: []`).
 */
export const PingAnswer = Schema.Struct({
  status: Schema.Literal("ok"),
  down: Schema.Array(Schema.String).pipe(Schema.withDecodingDefaultKey(Effect.succeed([])))
})

/** The JSON body of `GET /healthz` and `GET /readyz`. */
export const StatusBody = Schema.Struct({ status: Schema.Literals(["ok", "ready"]) })
