/**
 * What a scenario run produced: its acceptance checks, the events of its timeline and the pods' peer
 * counts sampled along it. The report, the timeline chart and the live table read it.
 */

/** One acceptance check. */
export interface Check {
  readonly name: string
  /** What was measured, in ms, when it is a time. */
  readonly measuredMs: number | undefined
  /** The bound it must stay within, in ms. */
  readonly boundMs: number | undefined
  readonly passed: boolean
  readonly detail: string
}

/** Something that happened, for the timeline. */
export interface Event {
  readonly at: number
  readonly label: string
}

/** One pod's peer count at one moment, for the timeline chart. */
export interface Sample {
  readonly at: number
  readonly pod: string
  readonly peers: number
}

/** What a run produced. */
export interface RunResult {
  readonly refreshIntervalMs: number
  readonly startedAt: number
  readonly finishedAt: number
  readonly checks: ReadonlyArray<Check>
  readonly events: ReadonlyArray<Event>
  readonly samples: ReadonlyArray<Sample>
}
