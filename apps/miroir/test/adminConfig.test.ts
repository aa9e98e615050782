/**
 * MIROIR_ADMIN_HOST and MIROIR_ADMIN_PORT: the admin listener on 127.0.0.1:7701 by default; its host any
 * loopback address (127.0.0.0/8, ::1 however written) and nothing else, since any other address would let
 * the network start the pod's leave; its port 1–65535. A bad value is an error naming the variable and
 * the value, for the pod (AppConfig.load), from the checks `miroir leave` applies too
 * (internal/adminListener.ts; leaveCommand.process.test.ts runs the command with a bad host).
 */
import { ConfigProvider, Effect, Result } from "effect"
import { describe, expect, it } from "vitest"
import * as AppConfig from "../src/AppConfig.js"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(env, { preserveEmptyStrings: true }))
const loadPod = (env: Record<string, string>) => Effect.runSync(Effect.result(AppConfig.load.pipe(withEnv(env))))
/** The admin settings only. */
const loadCommand = (env: Record<string, string>) =>
  Result.map(loadPod(env), ({ adminHost, adminPort }) => ({ adminHost, adminPort }))

describe("MIROIR_ADMIN_HOST, MIROIR_ADMIN_PORT", () => {
  it("default to 127.0.0.1:7701", () => {
    expect(Result.getOrThrow(loadPod({}))).toMatchObject({ adminHost: "127.0.0.1", adminPort: 7701 })
    expect(Result.getOrThrow(loadCommand({}))).toEqual({ adminHost: "127.0.0.1", adminPort: 7701 })
  })

  it("take any loopback address and a port from 1 to 65535", () => {
    for (const host of ["127.0.0.1", "127.0.2.37", "127.255.255.254", "::1", "0:0:0:0:0:0:0:1", " 127.0.0.9 "]) {
      const settings = Result.getOrThrow(loadCommand({ MIROIR_ADMIN_HOST: host, MIROIR_ADMIN_PORT: "1" }))
      expect(settings, host).toEqual({ adminHost: host.trim(), adminPort: 1 })
    }
    expect(Result.getOrThrow(loadPod({ MIROIR_ADMIN_PORT: "65535" })).adminPort).toBe(65535)
  })

  it("refuse any other host, naming the variable and the value", () => {
    for (
      const host of ["0.0.0.0", "::", "10.0.0.1", "198.51.100.7", "::ffff:10.0.0.1", "fe80::1", "localhost", "pod"]
    ) {
      const result = loadPod({ MIROIR_ADMIN_HOST: host })
      expect(Result.isFailure(result), host).toBe(true)
      if (Result.isFailure(result)) {
        expect(result.failure.message).toBe(
          `invalid configuration: MIROIR_ADMIN_HOST=${
            JSON.stringify(host)
          }: expected a loopback address (127.0.0.0/8 or ::1), such as 127.0.0.1: only the pod itself may reach it`
        )
      }
    }
  })

  it("refuse a port outside 1–65535, naming the variable and the value", () => {
    for (const port of ["0", "65536", "http", "-1"]) {
      const result = loadCommand({ MIROIR_ADMIN_PORT: port })
      expect(Result.isFailure(result), port).toBe(true)
      if (Result.isFailure(result)) {
        expect(result.failure.message).toBe(
          `invalid configuration: MIROIR_ADMIN_PORT=${JSON.stringify(port)}: expected an integer from 1 to 65535`
        )
      }
    }
  })
})
