/** Lists for log lines, bounded so that one line stays short however many items there are. */

/** How many items a log line lists before it only counts the rest. */
export const LOG_LIST_MAX = 20

/** The first `max` items, comma-separated, then `+N more` for the rest: `a,b,c +17 more`. */
export const boundedList = (items: ReadonlyArray<string>, max: number = LOG_LIST_MAX): string =>
  items.length <= max ? items.join(",") : `${items.slice(0, max).join(",")} +${items.length - max} more`
