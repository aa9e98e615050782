/** Where the audit reaches a peer: the address in a dashed-IP id, nothing guessed for any other id. */
import { describe, expect, it } from "vitest"
import { Option } from "effect"
import { addressOfId } from "../src/PeerClient.js"

describe("PeerClient.addressOfId", () => {
  it("turns Deployment ids back into their addresses, IPv4 and both IPv6 forms of CoreDNS", () => {
    expect(addressOfId("10-244-1-5")).toEqual(Option.some("10.244.1.5"))
    expect(addressOfId("127-0-0-2")).toEqual(Option.some("127.0.0.2"))
    expect(addressOfId("fd00--1")).toEqual(Option.some("fd00::1"))
    expect(addressOfId("fd00--0")).toEqual(Option.some("fd00::0"))
    expect(addressOfId("fd00--")).toEqual(Option.some("fd00::"))
    expect(addressOfId("fd00-10-244-0-0-0-0-5")).toEqual(Option.some("fd00:10:244:0:0:0:0:5"))
  })

  it("gives none for hostnames and anything that is not an address", () => {
    for (const id of ["miroir-0", "miroir-7d9f8c6b5-x2x4q", "10-244-1-256", "10-244-1", "cafe-1", "a", "dead-beef"]) {
      expect(addressOfId(id), id).toEqual(Option.none())
    }
  })
})
