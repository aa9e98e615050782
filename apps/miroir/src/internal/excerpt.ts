/**
 * What an error answer may quote of a value it received. Not API: HttpApi/Server.ts quotes bad query
 * values and paths with it.
 *
 * Why: a refusal that echoes what it refuses grows with it. A 400 used to carry the bad `shards` value
 * twice (in `error` and in `value`), so a 16 KB query earned a 32 KB answer: a client could make the
 * pod write, and hold while its answer waits to be read, more than it sent.
 */

/** Characters of a received value an error answer quotes at most. */
export const EXCERPT_CHARACTERS = 64

/** The first `max` characters of `text` and its length in characters, when it has more than `max`. */
const cut = (text: string, max: number): { readonly prefix: string; readonly characters: number } | undefined => {
  // A string of at most `max` UTF-16 units has at most `max` characters: no need to count.
  if (text.length <= max) return undefined
  let prefix = ""
  let characters = 0
  for (const character of text) {
    if (characters < max) prefix += character
    characters++
  }
  return characters <= max ? undefined : { prefix, characters }
}

/**
 * `text` itself when it has at most `max` characters (code points, so that none is cut in half), else
 * its first `max` characters, an ellipsis and its length: `abc… (16000 characters)`.
 */
export const excerpt = (text: string, max: number = EXCERPT_CHARACTERS): string => {
  const long = cut(text, max)
  return long === undefined ? text : `${long.prefix}… (${long.characters} characters)`
}

/**
 * `text` quoted as JSON for a sentence, bounded as {@link excerpt} bounds it: `"abc"`, or
 * `"abc…" (16000 characters)`, the ellipsis inside the quotes and the length outside.
 */
export const quoteExcerpt = (text: string, max: number = EXCERPT_CHARACTERS): string => {
  const long = cut(text, max)
  return long === undefined
    ? JSON.stringify(text)
    : `${JSON.stringify(`${long.prefix}…`)} (${long.characters} characters)`
}
