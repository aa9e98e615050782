/**
 * How long the asker of an indirect probe has had no answer from the peer it asks about: the `silentForMs`
 * parameter of `GET /probe?peer=`, and its Schema. The asked pod counts its own failed ping as that much
 * older evidence (at most its suspicion timeout), so that every pod holds a dead peer down at about the
 * same moment rather than each a suspicion timeout after it first heard of it.
 */
import { decimalInteger } from "./internal/decimalInteger.js"

/** The largest `silentForMs`: an hour, far past any suspicion timeout (the asked pod caps it at its own). */
export const MAX_SILENT_FOR_MS = 3_600_000

/** What a `silentForMs` value must be, after the parameter's name and before the value received. */
export const SILENT_FOR_EXPECTED = `must be an integer from 0 to ${MAX_SILENT_FOR_MS}`

/**
 * The `silentForMs` query parameter of `GET /probe`: decimal digits only (no sign, exponent or fraction),
 * milliseconds from 0 to {@link MAX_SILENT_FOR_MS}. Every way a value can be wrong fails with one message
 * (`silentForMs must be an integer from 0 to 3600000, got "x"`), as `shards` does (Shards.ts).
 */
export const SilentForMs = decimalInteger(0, MAX_SILENT_FOR_MS, SILENT_FOR_EXPECTED)
