/**
 * How many shards a pod is asked about: the bound of the pod API's `shards` parameter (and of the pod's
 * own `MIROIR_SHARDS`, which is its default), and the parameter's Schema.
 */
import { decimalInteger } from "./internal/decimalInteger.js"

/**
 * The largest shard count of the pod API: `/ownership?shards=` accepts 1 to 65,536, and so does a pod's
 * `MIROIR_SHARDS`. Smaller than the library's own bound (`ShardOwners.MAX_SHARDS` of
 * `@miroir/peer-discovery`, 2^20, what one computation of owners accepts): at 65,536 shards one answer is
 * already 400 kB of JSON, and a request that costs more is one a flood should not be able to make.
 */
export const MAX_POD_SHARDS = 65_536

/** What a `shards` value must be, after the parameter's name and before the value received. */
export const SHARDS_EXPECTED = `must be an integer from 1 to ${MAX_POD_SHARDS}`

/**
 * The `shards` query parameter of `GET /ownership`: decimal digits only (no sign, exponent or fraction),
 * an integer from 1 to {@link MAX_POD_SHARDS}. Its message is what a 400 says, after the parameter's name
 * and before the value received (`shards must be an integer from 1 to 65536, got "abc"`): every way a
 * value can be wrong fails with that one message, never Schema's own wording.
 */
export const Shards = decimalInteger(1, MAX_POD_SHARDS, SHARDS_EXPECTED)
