/** The one order of peer ids used everywhere: UTF-16 code units, as JavaScript's `<` on strings. */
export const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Whether two lists hold the same ids in the same order. */
export const sameIds = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean =>
  a.length === b.length && a.every((id, i) => id === b[i])
