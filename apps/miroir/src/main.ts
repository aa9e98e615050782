/**
 * The program every Miroir pod runs (`node /app/miroir.mjs`): without arguments the pod service
 * (Serve.ts); `leave`, the chart's preStop hook (LeaveCommand.ts); `--help` says so.
 *
 * Each side is imported only when chosen: in the bundle (scripts/bundle.ts) esbuild then wraps what only
 * one side uses in a function called on its import, so that `miroir leave`, which starts as the pod's
 * termination does and is a second process in the pod's memory limit while it stops, loads none of the
 * server's code (Effect, OpenTelemetry, the API's builder).
 */
const [command, ...args] = process.argv.slice(2)

const HELP = [
  "usage: miroir            serve: peer discovery, ownership, the HTTP API and metrics (configured by MIROIR_*)",
  "       miroir leave [--delay DURATION]",
  "                         start this pod's leave and wait for it (the preStop hook); miroir leave --help"
].join("\n")

if (command === undefined) {
  void import("./Serve.js").then((serve) => serve.main())
} else if (command === "leave") {
  void import("./LeaveCommand.js").then(async (leave) => (process.exitCode = await leave.run(args)))
} else if (command === "--help" || command === "-h" || command === "help") {
  process.stdout.write(`${HELP}\n`)
} else {
  process.stderr.write(
    `miroir: expected a command (leave); run without arguments to serve, or with --help\n`
  )
  process.exitCode = 1
}
