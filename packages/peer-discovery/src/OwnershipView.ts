/**
 * What ownership is computed over: the peers of a pod's {@link PeerSet} as {@link PeerSet.ownershipPeers}
 * gives them (DNS's rules: a starting or leaving pod that DNS does not list owns nothing), less the peers
 * the failure detector holds down ({@link PeerHealth}), less this pod while it is fenced. Every pod that
 * agrees on its peers and their health computes the same owners, and a dead peer's shards go to the next
 * owner in rendezvous order.
 */
import { sameIds } from "./internal/order.js"
import type { Health } from "./PeerHealth.js"
import type { PeerId } from "./PeerId.js"
import * as PeerSet from "./PeerSet.js"

/** A pod's view for ownership. */
export interface OwnershipView {
  /** The peers DNS lists, as discovery keeps them. */
  readonly set: PeerSet.PeerSet
  /** The failure detector's verdicts about them. */
  readonly health: Health
  /**
   * The peers ownership is computed over, sorted, frozen (the same array for the view's whole life, so that
   * the hashing kernel lays the ids out once). Never empty: when the verdicts would leave nobody, DNS's
   * peers are kept.
   */
  readonly peers: ReadonlyArray<PeerId>
}

/**
 * The view of `set` under `health`. A fenced pod leaves itself out and trusts DNS alone for the others (its
 * probes reach nobody, so its verdicts about them mean nothing); otherwise the peers held down are left out.
 */
export const make = (set: PeerSet.PeerSet, health: Health): OwnershipView => {
  const listed = PeerSet.ownershipPeers(set)
  const out = new Set<PeerId>(health.fenced ? [set.self] : health.down)
  const kept = out.size === 0 ? listed : listed.filter((id) => !out.has(id))
  return { set, health, peers: kept.length === 0 ? listed : Object.freeze(kept) }
}

/** Whether two views give the same ownership: the same self and the same peers. */
export const sameOwnership = (a: OwnershipView, b: OwnershipView): boolean =>
  a.set.self === b.set.self && sameIds(a.peers, b.peers)

/** Whether the pod owns anything in `view`: it is among the peers ownership is computed over. */
export const counted = (view: OwnershipView): boolean => view.peers.includes(view.set.self)
