/**
 * What the benchmarks read of a pod process from /proc (its RSS, the high-water mark of its RSS, its CPU
 * time), and the heap the chart gives the pod's V8, so that every benchmark runs its pods as the chart does.
 */
import { readFileSync } from "node:fs"

/** Bytes in a megabyte (MiB), as the figures count them. */
export const MB = 1024 * 1024

/** The V8 heap the chart gives the pod at its default 256Mi limit (NODE_OPTIONS, half the limit). */
export const CHART_HEAP = "--max-old-space-size=128"

/** Linux's USER_HZ: the unit of the CPU times in /proc/<pid>/stat. */
const CLOCK_TICKS_PER_SECOND = 100

/** A field of /proc/<pid>/status given in kB (`VmRSS:`, `VmHWM:`), in bytes. */
const statusBytes = (pid: number, field: string): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith(field))
  return Number(line?.split(/\s+/)[1] ?? Number.NaN) * 1024
}

/** Resident memory of a process now. */
export const rssBytes = (pid: number): number => statusBytes(pid, "VmRSS:")

/** The most resident memory the process has had (its high-water mark). */
export const peakRssBytes = (pid: number): number => statusBytes(pid, "VmHWM:")

/** User + system CPU seconds of a process so far. */
export const cpuSeconds = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND
}
