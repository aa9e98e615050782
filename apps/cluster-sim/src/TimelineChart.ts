/** The timeline chart: each pod's peer count over time, with the scenario's events marked, as SVG. */
import type { RunResult } from "./RunResult.js"

const WIDTH = 960
const HEIGHT = 420
const MARGIN = { left: 56, right: 200, top: 56, bottom: 48 }
const COLORS = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf"
]

/** Pod names without the ReplicaSet part (`kill 8jsdb`), so that labels of close events fit. */
const shortLabel = (label: string) => label.replace(/miroir-[a-z0-9]+-([a-z0-9]{5})\b/g, "$1")

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/** Renders the chart of a run. */
export const render = (result: RunResult): string => {
  const span = Math.max(1, result.finishedAt - result.startedAt)
  const maxPeers = Math.max(1, ...result.samples.map((sample) => sample.peers))
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom
  const x = (at: number) => MARGIN.left + ((at - result.startedAt) / span) * plotWidth
  const y = (peers: number) => MARGIN.top + plotHeight - (peers / (maxPeers + 1)) * plotHeight
  const pods = [...new Set(result.samples.map((sample) => sample.pod))]

  const lines = pods.map((pod, i) => {
    const points = result.samples.filter((sample) => sample.pod === pod)
    // A step line: the count holds until the next sample. A small offset keeps overlapping pods visible.
    const offset = (i % 5) * 1.5
    const path = points.map((p, j) => {
      const next = points[j + 1]
      const here = `${x(p.at).toFixed(1)},${(y(p.peers) - offset).toFixed(1)}`
      return next === undefined ? here : `${here} ${x(next.at).toFixed(1)},${(y(p.peers) - offset).toFixed(1)}`
    }).join(" ")
    return `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${path}"><title>${
      escape(pod)
    }</title></polyline>`
  })
  const legend = pods.map((pod, i) =>
    `<g transform="translate(${WIDTH - MARGIN.right + 16},${MARGIN.top + i * 18})"><rect width="12" height="12" fill="${
      COLORS[i % COLORS.length]
    }"/><text x="18" y="10" font-size="11">${escape(pod)}</text></g>`
  )
  const events = result.events.map((event, i) => {
    const ex = x(event.at).toFixed(1)
    return `<line x1="${ex}" x2="${ex}" y1="${MARGIN.top}" y2="${
      MARGIN.top + plotHeight
    }" stroke="#999" stroke-dasharray="4 3"/>` +
      `<text x="${ex}" y="${MARGIN.top - 6 - (i % 3) * 13}" font-size="10" text-anchor="middle">${
        escape(shortLabel(event.label))
      }</text>`
  })
  const yTicks = Array.from(
    { length: maxPeers + 1 },
    (_, peers) =>
      `<text x="${MARGIN.left - 8}" y="${y(peers) + 4}" font-size="11" text-anchor="end">${peers}</text>` +
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y(peers)}" y2="${y(peers)}" stroke="#eee"/>`
  )
  const secondsTotal = Math.ceil(span / 1000)
  const step = Math.max(1, Math.ceil(secondsTotal / 12))
  const xTicks = Array.from({ length: Math.floor(secondsTotal / step) + 1 }, (_, i) => {
    const at = result.startedAt + i * step * 1000
    return `<text x="${x(at)}" y="${MARGIN.top + plotHeight + 18}" font-size="11" text-anchor="middle">${
      i * step
    }s</text>`
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    ...yTicks,
    ...xTicks,
    `<text x="16" y="${MARGIN.top + plotHeight / 2}" font-size="12" transform="rotate(-90 16 ${
      MARGIN.top + plotHeight / 2
    })" text-anchor="middle">peers seen</text>`,
    `<text x="${MARGIN.left + plotWidth / 2}" y="${
      HEIGHT - 8
    }" font-size="12" text-anchor="middle">time since start (R = ${result.refreshIntervalMs} ms)</text>`,
    ...events,
    ...lines,
    ...legend,
    "</svg>",
    ""
  ].join("\n")
}
