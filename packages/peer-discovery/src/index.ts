/**
 * `@miroir/peer-discovery`: Kubernetes peer discovery through the DNS of a headless Service, and
 * rendezvous-hash ownership of shards and tasks, as Effect services.
 *
 * Data flows one way: {@link PeerDiscoveryConfig} → {@link DnsResolver} → {@link PeerDiscovery} →
 * {@link PeerSet} → {@link PeerHealth} (the failure detector, probing through a {@link PeerProbe}) →
 * {@link OwnershipView} → {@link Rendezvous} (which keeps the {@link ShardOwners} of a view) and other
 * consumers; {@link Metrics} records what happens.
 */
export * as ConfigError from "./ConfigError.js"
export * as ConfigVariable from "./ConfigVariable.js"
export * as DnsLookupError from "./DnsLookupError.js"
export * as DnsResolver from "./DnsResolver.js"
export * as Hint from "./Hint.js"
export * as Metrics from "./Metrics.js"
export * as OwnershipView from "./OwnershipView.js"
export * as PeerDiscovery from "./PeerDiscovery.js"
export * as PeerDiscoveryConfig from "./PeerDiscoveryConfig.js"
export * as PeerHealth from "./PeerHealth.js"
export * as PeerHealthConfig from "./PeerHealthConfig.js"
export * as PeerId from "./PeerId.js"
export * as PeerProbe from "./PeerProbe.js"
export * as PeerSet from "./PeerSet.js"
export * as Rendezvous from "./Rendezvous.js"
export * as ShardOwners from "./ShardOwners.js"
