/**
 * Which new connections a server takes: counts of the open ones, in all and per source address. Not API:
 * internal/guardedServer.ts asks it about every connection as it arrives.
 *
 * Why per source: the kubelet probes a pod from its node's address, the attacker from others. A total
 * alone lets one client fill it and shut the probes out; a limit per source makes that take many
 * clients. And so that even many cannot, a source that holds only a few connections (the kubelet opens
 * one per probe) is still let in past the total, up to a small reserve: filling the pod then takes more
 * sources than a reserve's worth, each holding few connections, which a handful of hosts cannot do.
 */

/** The limits. */
export interface Limits {
  /** Connections open at once beyond which a source holding {@link lightSource} or more is refused. */
  readonly total: number
  /** Connections one source address may hold at once. */
  readonly perSource: number
  /** Connections beyond {@link total} that sources holding fewer than {@link lightSource} may still open. */
  readonly reserve: number
  /** A source holding fewer connections than this is light: it may use the reserve. */
  readonly lightSource: number
}

/** Why a connection is refused. */
export type Refusal = "per-source" | "total"

/** The open connections, counted; {@link admit} and {@link release} keep the counts. */
export class ConnectionLimits {
  private readonly bySource = new Map<string, number>()
  private open = 0

  constructor(readonly limits: Limits) {}

  /** Connections open now. */
  get size(): number {
    return this.open
  }

  /** Connections `source` holds now. */
  heldBy(source: string): number {
    return this.bySource.get(source) ?? 0
  }

  /**
   * Counts a new connection from `source` in, or says why not: `per-source` when the source holds
   * {@link Limits.perSource} already, `total` when the pod is full (beyond the reserve for a light source).
   */
  admit(source: string): Refusal | undefined {
    const held = this.heldBy(source)
    if (held >= this.limits.perSource) return "per-source"
    const total = held < this.limits.lightSource ? this.limits.total + this.limits.reserve : this.limits.total
    if (this.open >= total) return "total"
    this.bySource.set(source, held + 1)
    this.open++
    return undefined
  }

  /** Counts a connection admitted from `source` out, once it has closed. */
  release(source: string): void {
    const held = this.heldBy(source)
    if (held <= 0) return
    if (held === 1) this.bySource.delete(source)
    else this.bySource.set(source, held - 1)
    this.open--
  }
}
