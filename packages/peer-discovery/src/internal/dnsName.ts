/** DNS name helpers shared by the resolvers and PeerId. */

/** The fully-qualified form of a name: lower-cased, with its trailing dot. */
export const fullyQualified = (name: string): string => {
  const lower = name.toLowerCase()
  return lower.endsWith(".") ? lower : `${lower}.`
}
