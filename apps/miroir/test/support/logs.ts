/**
 * A pod process's JSON log (MIROIR_LOG_FORMAT=json, the tests' default) as records, so that tests assert
 * a record's level and annotations rather than the sentence of its message.
 */

/** One line of the log, as far as tests read it. */
export interface LogRecord {
  readonly level: string
  readonly message: unknown
  readonly annotations: Readonly<Record<string, unknown>>
}

/** The records of `output` (what the process wrote), the lines that are not JSON records skipped. */
export const logRecords = (output: string): ReadonlyArray<LogRecord> =>
  output.split("\n").flatMap((line) => {
    if (!line.startsWith("{")) return []
    try {
      const record = JSON.parse(line) as Partial<LogRecord>
      return typeof record.level === "string"
        ? [{ level: record.level, message: record.message, annotations: record.annotations ?? {} }]
        : []
    } catch {
      return []
    }
  })
