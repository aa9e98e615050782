/**
 * MIROIR_PEER_ADDRESS_TWIN, the harness's stand-in for the pod network: parsed strictly (an error naming
 * the variable and what was wrong), unset by default, and applied to IPv4 addresses of its prefix only.
 */
import { describe, expect, it } from "vitest"
import { ConfigProvider, Effect, Result, Option } from "effect"
import * as AppConfig from "../src/AppConfig.js"
import { formatAddressTwin, parseAddressTwin, reachedAt } from "../src/internal/addressTwin.js"

const load = (value: string | undefined) =>
  Effect.runSync(Effect.result(AppConfig.load.pipe(
    Effect.provideService(
      ConfigProvider.ConfigProvider,
      ConfigProvider.fromUnknown(value === undefined ? {} : { MIROIR_PEER_ADDRESS_TWIN: value }, {
        preserveEmptyStrings: true
      })
    )
  )))

const twin = (text: string) => Option.some(Result.getOrThrow(parseAddressTwin(text)))

describe("MIROIR_PEER_ADDRESS_TWIN", () => {
  it("is unset by default (and when blank): addresses are used as they are", () => {
    expect(Result.getOrThrow(load(undefined)).peerAddressTwin).toEqual(Option.none())
    expect(Result.getOrThrow(load("  ")).peerAddressTwin).toEqual(Option.none())
  })

  it("reads two prefixes of the same length, blanks around them ignored", () => {
    expect(Result.getOrThrow(load("198.51.100.0/24=127.0.2.0/24")).peerAddressTwin).toEqual(
      Option.some({ from: 0xc633_6400, to: 0x7f00_0200, prefixLength: 24 })
    )
    expect(Result.getOrThrow(load(" 10.244.0.0/16 = 127.1.0.0/16 ")).peerAddressTwin).toEqual(
      Option.some({ from: 0x0af4_0000, to: 0x7f01_0000, prefixLength: 16 })
    )
  })

  it("is written back as it was read, for the pod's start-up warning", () => {
    for (const text of ["198.51.100.0/24=127.0.2.0/24", "10.244.0.0/14=127.8.0.0/14", "192.0.2.5/32=127.0.0.9/32"]) {
      expect(formatAddressTwin(Result.getOrThrow(parseAddressTwin(text)))).toBe(text)
    }
  })

  it("refuses anything else with an error naming the variable, the value and what was wrong", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["198.51.100.0/24", "one \"=\" between them, found 0"],
      ["198.51.100.0/24=127.0.2.0/24=127.0.3.0/24", "one \"=\" between them, found 2"],
      ["198.51.100.0/24=127.1.0.0/16", "/24 and /16 differ"],
      ["198.51.100.0=127.0.2.0", "\"198.51.100.0\" is not an IPv4 prefix such as 198.51.100.0/24"],
      ["198.51.100.1/24=127.0.2.0/24", "198.51.100.1/24 has host bits set (the prefix is 198.51.100.0/24)"],
      ["198.51.300.0/24=127.0.2.0/24", "198.51.300.0 is not an IPv4 address"],
      // Leading zeros are refused, never read as octal or decimal.
      ["198.51.100.0/24=127.000.2.0/24", "127.000.2.0 is not an IPv4 address"],
      ["198.51.100.0/33=127.0.2.0/33", "/33 is not a prefix length from 1 to 32"],
      ["198.51.100.0/0=127.0.2.0/0", "/0 is not a prefix length from 1 to 32"],
      ["fd00::/64=127.0.2.0/24", "\"fd00::/64\" is not an IPv4 prefix such as 198.51.100.0/24"]
    ]
    for (const [bad, wrong] of cases) {
      const result = load(bad)
      expect(Result.isFailure(result), bad).toBe(true)
      if (Result.isFailure(result)) {
        expect(result.failure.message, bad).toBe(
          `invalid configuration: MIROIR_PEER_ADDRESS_TWIN=${JSON.stringify(bad)}: expected two IPv4 prefixes of `
            + `the same length, as pod network=where it is reached, such as 198.51.100.0/24=127.0.2.0/24 (${wrong})`
        )
      }
    }
  })
})

describe("reachedAt", () => {
  it("keeps the host part of an address of the prefix, in the twin prefix", () => {
    const kubelet = twin("198.51.100.0/24=127.0.2.0/24")
    expect(reachedAt(kubelet, "198.51.100.7")).toBe("127.0.2.7")
    expect(reachedAt(kubelet, "198.51.100.250")).toBe("127.0.2.250")
    expect(reachedAt(kubelet, "198.51.100.0")).toBe("127.0.2.0")
    const wide = twin("10.244.0.0/14=127.8.0.0/14")
    expect(reachedAt(wide, "10.246.3.9")).toBe("127.10.3.9")
    expect(reachedAt(twin("192.0.2.5/32=127.0.0.9/32"), "192.0.2.5")).toBe("127.0.0.9")
  })

  it("leaves every other address as it is, and every address when there is no twin", () => {
    const kubelet = twin("198.51.100.0/24=127.0.2.0/24")
    for (const address of ["198.51.101.7", "10.0.0.1", "127.0.2.7", "fd00::1", "::ffff:198.51.100.7", "miroir-0"]) {
      expect(reachedAt(kubelet, address), address).toBe(address)
    }
    expect(reachedAt(Option.none(), "198.51.100.7")).toBe("198.51.100.7")
    expect(reachedAt(twin("10.244.0.0/14=127.8.0.0/14"), "10.248.0.1")).toBe("10.248.0.1")
  })
})
