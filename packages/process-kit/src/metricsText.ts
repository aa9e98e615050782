/**
 * Reading a scrape in Prometheus's text format (what a pod's `/metrics` serves), for the tests, the
 * simulator and the benchmarks: one parser instead of a regular expression per caller.
 */

/** One sample of a scrape: its metric name, its labels and its value. */
export interface TextSample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
/** One `label="value"` pair and the comma after it; sticky, read from `lastIndex`. */
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y

const unescapeLabel = (text: string) =>
  text.replace(/\\(.)/g, (_, escaped: string) => (escaped === "n" ? "\n" : escaped))

/** A sample value as the format writes it: a float, `NaN`, `+Inf` or `-Inf`; undefined for anything else. */
const parseValue = (text: string | undefined): number | undefined => {
  if (text === "+Inf") return Number.POSITIVE_INFINITY
  if (text === "-Inf") return Number.NEGATIVE_INFINITY
  if (text === "NaN") return Number.NaN
  const value = text === undefined || text === "" ? Number.NaN : Number(text)
  return Number.isNaN(value) ? undefined : value
}

/** The sample on one line; undefined for comments (`# HELP`, `# TYPE`), blank and malformed lines. */
const parseLine = (line: string): TextSample | undefined => {
  const name = METRIC_NAME.exec(line)?.[0]
  if (name === undefined) return undefined
  const labels: Record<string, string> = {}
  let at = name.length
  if (line[at] === "{") {
    at += 1
    for (;;) {
      LABEL.lastIndex = at
      const label = LABEL.exec(line)
      if (label === null) break
      labels[label[1]!] = unescapeLabel(label[2]!)
      at = LABEL.lastIndex
    }
    if (line[at] !== "}") return undefined
    at += 1
  }
  if (line[at] !== " " && line[at] !== "\t") return undefined
  // The value, then an optional timestamp.
  const value = parseValue(line.slice(at).trim().split(/\s+/)[0])
  return value === undefined ? undefined : { name, labels, value }
}

/** Every sample of a scrape, in order. */
export const parseSamples = (text: string): ReadonlyArray<TextSample> =>
  text.split("\n").flatMap((line) => {
    const sample = parseLine(line)
    return sample === undefined ? [] : [sample]
  })

/**
 * The value of the first sample of `name` whose labels include `labels` (any labels when none are
 * given); undefined when there is none. Only the lines of `name` are parsed.
 */
export const metricValue = (
  text: string,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): number | undefined => {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || METRIC_NAME.exec(line)?.[0] !== name) continue
    const sample = parseLine(line)
    if (sample !== undefined && Object.entries(labels).every(([key, value]) => sample.labels[key] === value)) {
      return sample.value
    }
  }
  return undefined
}

/** The sum of every sample of `name`, whatever its labels (0 when there is none). */
export const metricSum = (text: string, name: string): number =>
  parseSamples(text).reduce((sum, sample) => (sample.name === name ? sum + sample.value : sum), 0)
