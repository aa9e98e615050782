/**
 * Where the admin listener is, and the checks of its two variables, as plain functions with no Effect in
 * them: AppConfig reads the pod's settings with them through `Config`, and `miroir leave`, the preStop
 * exec, reads them directly, so that it starts without loading Effect (LeaveCommand.ts says why).
 */
import { BlockList, isIP } from "node:net"

/** `MIROIR_ADMIN_HOST` unset: the pod's own loopback. */
export const DEFAULT_ADMIN_HOST = "127.0.0.1"

/** `MIROIR_ADMIN_PORT` unset: next to the pod API's 7700. */
export const DEFAULT_ADMIN_PORT = 7701

/** The largest TCP port. */
const MAX_PORT = 65_535

/** The loopback addresses: 127.0.0.0/8 and ::1 (however written). */
const loopback = new BlockList()
loopback.addSubnet("127.0.0.0", 8, "ipv4")
loopback.addAddress("::1", "ipv6")

/** What a host or port was expected to be, when it was not. */
export type Check<A> = { readonly value: A } | { readonly expected: string }

/**
 * A loopback address. Anything else would let the network reach the admin listener, and so start the
 * pod's leave from outside, which the admin listener exists to prevent.
 */
export const checkHost = (text: string): Check<string> => {
  const family = isIP(text)
  return family !== 0 && loopback.check(text, family === 4 ? "ipv4" : "ipv6")
    ? { value: text }
    : { expected: "a loopback address (127.0.0.0/8 or ::1), such as 127.0.0.1: only the pod itself may reach it" }
}

/** A port from 1 to 65535, in decimal digits. */
export const checkPort = (text: string): Check<number> => {
  const port = Number(text)
  return /^\d+$/.test(text) && port >= 1 && port <= MAX_PORT
    ? { value: port }
    : { expected: `an integer from 1 to ${MAX_PORT}` }
}
