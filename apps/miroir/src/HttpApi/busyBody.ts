/** The JSON body of a 503 `Busy` answer, shared by the server's guard and the `/ownership` gate. */
import { Schema } from "effect"
import { RETRY_AFTER_SECONDS } from "../RequestGate.js"
import { Busy } from "./Contract.js"

const encodeBusy = Schema.encodeSync(Busy)
const busyBodies = new Map<string, string>()

/** The 503 body, encoded once per message (a handful, all constant): refusing must cost less than serving. */
export const busyJson = (message: string): string => {
  let json = busyBodies.get(message)
  if (json === undefined) {
    json = JSON.stringify(encodeBusy(new Busy({ error: message, retryAfterSeconds: RETRY_AFTER_SECONDS })))
    busyBodies.set(message, json)
  }
  return json
}
