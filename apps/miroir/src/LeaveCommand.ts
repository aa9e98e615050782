/**
 * `miroir leave [--delay 5s]`: the pod's leave, started from inside the pod, as the chart's preStop hook
 * runs it (`exec: node /app/miroir.mjs leave --delay 5s`). It reads where the admin listener is from the
 * environment (`MIROIR_ADMIN_HOST`, `MIROIR_ADMIN_PORT`: an exec hook inherits the container's), asks it
 * for the leave (`POST /leave?delay=…`, AdminApi/), waits for the answer, which comes once the leave and
 * the delay are both over, prints one line and exits 0.
 *
 * Why it waits out the delay even when it fails: the kubelet sends SIGTERM when the hook ends, and the
 * delay is what keeps the pod serving while its removal from the endpoints reaches kube-proxy and the
 * other pods (as the preStop sleep did). So when the pod cannot be reached or answers an error, the
 * command still sleeps what is left of the delay (counted from its own start), then exits 1 with one
 * line on stderr saying why; the kubelet reports that line in its FailedPreStopHook event.
 *
 * Why plain Node (node:http, util.parseArgs) and not Effect like the rest: this process starts when the
 * pod's termination does, and the pod learns of it only when this request arrives, so its start-up is
 * part of every hand-over. Built with @effect/cli and the admin API's derived client, it took 0.44 s of
 * CPU more to get there (0.55 s against 0.12 s, measured on these 2 cores), and the hand-over of a
 * rolling update grew from 0.2 s to 0.6–1.4 s. It reads the admin API's answer as JSON and checks the
 * fields it prints; the contract (AdminApi/Contract.ts) stays the declaration of the request it sends.
 */
import { request } from "node:http"
import { parseArgs } from "node:util"
import { type Check, checkHost, checkPort, DEFAULT_ADMIN_HOST, DEFAULT_ADMIN_PORT } from "./internal/adminListener.js"
import { baseUrl } from "@miroir/pod-api/baseUrl"
import { delayMillis, LEAVE_DELAY_EXPECTED } from "./internal/leaveDelay.js"

/** The longest a leave takes in the pod (Leave.ts: at most 2 s waiting for DNS to drop it, 1 s of hints). */
const LEAVE_BOUND_MS = 3_000

/**
 * How much longer than the delay (or the leave's bound) the command waits for the answer before it gives
 * up: enough for a busy pod, and short enough that the chart's grace period (at least the delay + 8 s)
 * still leaves the process seconds to exit after SIGTERM.
 */
const ANSWER_MARGIN_MS = 4_000

/** The usage, for `--help` and after an argument it does not know. */
export const USAGE = [
  "usage: miroir leave [--delay DURATION]",
  "",
  "Starts this pod's leave through its admin listener (MIROIR_ADMIN_HOST:MIROIR_ADMIN_PORT) and waits for the",
  "answer, which comes once the leave and the delay are over: the chart's preStop hook.",
  "",
  "  --delay DURATION  how long the answer waits at least, as the preStop sleep it replaces: such as 5s or",
  "                    500ms, from 0s to 3600s (default 0s)"
].join("\n")

/** A leave that did not happen as asked, and why (the line printed on stderr, after `miroir leave: `). */
class LeaveFailed extends Error {}

/** The line printed for an answer, or none when the answer is not a leave's. */
const describe = (answer: unknown): string | undefined => {
  if (typeof answer !== "object" || answer === null) return undefined
  const { result, tookMs } = answer as { result?: unknown; tookMs?: unknown }
  if (typeof tookMs !== "number") return undefined
  const took = `answered after ${(tookMs / 1000).toFixed(2)} s`
  switch (result) {
    case "left":
      return `left: DNS no longer lists this pod; its peers were told and it resigned its shards (${took})`
    case "listed":
      return `listed: DNS still lists this pod, so nothing was sent and it keeps its shards; the next leave (SIGTERM) runs again (${took})`
    case "off":
      return `off: refresh hints are off (MIROIR_PEER_HINTS=off); the pod only waited the delay (${took})`
    default:
      return undefined
  }
}

/** The variable `name` checked by `check`, its default when unset or blank. */
const variable = <A>(name: string, check: (text: string) => Check<A>, fallback: A): A => {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === "") return fallback
  const checked = check(raw.trim())
  if ("value" in checked) return checked.value
  throw new LeaveFailed(`invalid configuration: ${name}=${JSON.stringify(raw)}: expected ${checked.expected}`)
}

/** POSTs `path` to `url` and resolves with the answer's status and body, within `timeoutMs`. */
const post = (url: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const target = new URL(path, url)
    const sent = request(target, { method: "POST" }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }))
      response.on("error", reject)
    })
    sent.setTimeout(timeoutMs, () => {
      sent.destroy()
      reject(new LeaveFailed(`the pod's admin listener at ${url} did not answer within ${timeoutMs / 1000}s`))
    })
    sent.on(
      "error",
      (error) =>
        reject(
          error instanceof LeaveFailed
            ? error
            : new LeaveFailed(`cannot reach the pod's admin listener at ${url}: ${error.message}`)
        )
    )
    sent.end()
  })

/** Asks for the leave with `delay` (as written) and returns the line to print. */
const ask = async (delay: string, delayMs: number): Promise<string> => {
  const host = variable("MIROIR_ADMIN_HOST", checkHost, DEFAULT_ADMIN_HOST)
  const port = variable("MIROIR_ADMIN_PORT", checkPort, DEFAULT_ADMIN_PORT)
  const url = baseUrl(host, port)
  const { body, status } = await post(
    url,
    `/leave?delay=${encodeURIComponent(delay)}`,
    Math.max(delayMs, LEAVE_BOUND_MS) + ANSWER_MARGIN_MS
  )
  if (status !== 200) throw new LeaveFailed(`the pod's admin listener at ${url} answered HTTP ${status}, not a leave`)
  let line: string | undefined
  try {
    line = describe(JSON.parse(body))
  } catch {
    line = undefined
  }
  if (line === undefined) {
    throw new LeaveFailed(
      `the pod's admin listener at ${url} gave an answer that is not a leave's: ${body.slice(0, 160)}`
    )
  }
  return line
}

/**
 * Runs `miroir leave` with `args` (what follows `leave`); resolves with the exit code once its line is
 * written. Bad arguments fail at once; any other failure after what is left of the delay.
 */
export const run = async (args: ReadonlyArray<string>): Promise<number> => {
  const started = Date.now()
  let delay = "0s"
  try {
    const { values } = parseArgs({ args: [...args], options: { delay: { type: "string" }, help: { type: "boolean" } } })
    if (values.help === true) {
      process.stdout.write(`${USAGE}\n`)
      return 0
    }
    delay = values.delay ?? delay
  } catch (error) {
    process.stderr.write(`miroir leave: ${(error as Error).message}\n${USAGE}\n`)
    return 1
  }
  const delayMs = delayMillis(delay)
  if (delayMs === undefined) {
    process.stderr.write(`miroir leave: --delay ${LEAVE_DELAY_EXPECTED}, got ${JSON.stringify(delay)}\n`)
    return 1
  }
  try {
    process.stdout.write(`miroir leave: ${await ask(delay, delayMs)}\n`)
    return 0
  } catch (error) {
    const reason = error instanceof LeaveFailed ? error.message : `failed: ${String(error)}`
    const left = delayMs - (Date.now() - started)
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left))
    process.stderr.write(`miroir leave: ${reason}\n`)
    return 1
  }
}
