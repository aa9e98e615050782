/**
 * One flood of podUnderLoad.ts's floods, run by a process of its own (niced by the benchmark, so that it
 * measures the pod and not the clients' share of two cores): `node --import tsx floodClient.ts '<Flood as
 * JSON>'`. Prints what became of its connections and requests, as JSON, on its last line, and exits.
 */
import { chunks, crowd, exchange } from "@miroir/test-support/floods"

/** What to send, from where, for how long. */
export type Flood =
  | {
    /** Raw connections that send `send`, then dribble `dribble` every second or hold, for `holdMs`. */
    readonly kind: "crowd"
    readonly host: string
    readonly port: number
    readonly sources: ReadonlyArray<string>
    readonly perSource: number
    readonly send: string
    readonly dribble?: string
    /** `head`: read only the first bytes of the answer (a client that never reads the rest). */
    readonly read?: "all" | "head"
    readonly holdMs: number
  }
  | {
    /** `count` GETs of `url` at once, each on a connection of its own, spread over `sources`. */
    readonly kind: "requests"
    readonly url: string
    readonly sources: ReadonlyArray<string>
    readonly count: number
  }
  | {
    /** `count` POSTs of a body of `megabytes` streamed without a Content-Length, one after the other. */
    readonly kind: "body"
    readonly url: string
    readonly source: string
    readonly megabytes: number
    readonly count: number
  }

/** What the flood saw, by status (`0`: no answer, the connection closed or reset). */
export interface FloodResult {
  readonly attempted: number
  readonly connected: number
  readonly statuses: Readonly<Record<string, number>>
  readonly ms: number
}

const run = async (flood: Flood): Promise<FloodResult> => {
  const started = performance.now()
  const tally = (statuses: ReadonlyArray<number>) => {
    const counted: Record<string, number> = {}
    for (const status of statuses) counted[status] = (counted[status] ?? 0) + 1
    return counted
  }
  switch (flood.kind) {
    case "crowd": {
      const members = await crowd({
        host: flood.host,
        port: flood.port,
        sources: flood.sources,
        perSource: flood.perSource,
        send: flood.send,
        read: flood.read ?? "all"
      })
      const stop = flood.dribble === undefined ? () => undefined : members.dribble(flood.dribble, 1_000)
      await new Promise((resolve) => setTimeout(resolve, flood.holdMs))
      stop()
      members.resume()
      await new Promise((resolve) => setTimeout(resolve, 500))
      const summary = members.summary()
      members.destroy()
      return {
        attempted: summary.attempted,
        connected: summary.connected,
        statuses: { ...summary.statuses, 0: summary.closedUnanswered },
        ms: performance.now() - started
      }
    }
    case "requests": {
      const answers = await Promise.all(
        Array.from(
          { length: flood.count },
          (_, i) => exchange(flood.url, { localAddress: flood.sources[i % flood.sources.length]!, timeoutMs: 60_000 })
        )
      )
      return {
        attempted: flood.count,
        connected: flood.count,
        statuses: tally(answers.map((answer) => answer.status)),
        ms: performance.now() - started
      }
    }
    case "body": {
      const statuses: Array<number> = []
      for (let i = 0; i < flood.count; i++) {
        const answer = await exchange(flood.url, {
          method: "POST",
          localAddress: flood.source,
          headers: { "content-type": "application/json" },
          body: chunks(flood.megabytes * 16),
          timeoutMs: 60_000
        })
        statuses.push(answer.status)
      }
      return {
        attempted: flood.count,
        connected: flood.count,
        statuses: tally(statuses),
        ms: performance.now() - started
      }
    }
  }
}

const result = await run(JSON.parse(process.argv[2]!) as Flood)
console.log(JSON.stringify(result))
process.exit(0)
