/**
 * The program every Miroir pod runs (`node /app/miroir.mjs`): without arguments the pod service
 * (Serve.ts); with arguments a command of its command line (Cli.ts), such as `leave`, the preStop hook.
 *
 * Each side is imported only when chosen: in the bundle (scripts/bundle.ts) esbuild then wraps what only
 * one side uses in a function called on its import, so that the server never runs the command line's
 * code and `miroir leave`, a second process in the pod's memory limit while it stops, does not start
 * the server's (OpenTelemetry, the API's builder).
 */
const args = process.argv.slice(2)

if (args.length === 0) {
  void import("./Serve.js").then((serve) => serve.main())
} else {
  void import("./Cli.js").then((cli) => cli.main(process.argv))
}
