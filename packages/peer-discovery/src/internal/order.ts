/** The one order of peer ids used everywhere: UTF-16 code units, as JavaScript's `<` on strings. */
export const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
