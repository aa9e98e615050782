/** The live table of the demo: one row per pod, redrawn in place on a terminal. */
import type { PodView } from "./Observer.js"
import type { Event } from "./RunResult.js"

const pad = (
  text: string,
  width: number
) => (text.length >= width ? text.slice(0, width) : text + " ".repeat(width - text.length))

/** The table as lines of text. */
export const render = (
  views: ReadonlyArray<PodView>,
  events: ReadonlyArray<Event>,
  published: ReadonlyArray<string>
): Array<string> => {
  const header = `${pad("pod", 28)} ${pad("ip", 15)} ${pad("phase", 11)} ${pad("ready", 5)} ${pad("in DNS", 6)} ${
    pad("peers", 5)
  } ${pad("owned", 5)} lookup`
  const rows = views.map((view) =>
    [
      pad(view.pod.name, 28),
      pad(view.pod.ip, 15),
      pad(view.pod.phase, 11),
      pad(view.pod.ready ? "yes" : "no", 5),
      pad(published.includes(view.pod.label) ? "yes" : "no", 6),
      pad(view.reachable ? String(view.peers.length) : "-", 5),
      pad(view.reachable ? String(view.owned.length) : "-", 5),
      view.lookup
    ].join(" ")
  )
  const last = events.at(-1)
  return [
    header,
    ...rows,
    "",
    `DNS publishes ${published.length}: ${published.join(" ")}`,
    `last event: ${last?.label ?? "—"}`
  ]
}

/** Draws the table over its previous drawing (a terminal), or not at all (a pipe: the report follows). */
export const draw = (lines: ReadonlyArray<string>): void => {
  if (!process.stdout.isTTY) return
  process.stdout.write(`\x1b[H\x1b[J${lines.join("\n")}\n`)
}
