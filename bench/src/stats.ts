/** Summaries of repeated measurements. */

/** A measured figure: its median, spread and how many trials it summarises. */
export interface Figure {
  readonly value: number
  readonly min: number
  readonly max: number
  readonly trials: number
  readonly unit: string
}

/** The value at quantile `q` (0..1) of `values`, nearest rank. */
export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/** The median of `values` with their spread. */
export const figure = (values: ReadonlyArray<number>, unit: string): Figure => ({
  value: quantile(values, 0.5),
  min: Math.min(...values),
  max: Math.max(...values),
  trials: values.length,
  unit
})
