/** The declaration's paths and their methods, as a server answers a request no route takes with them. */
import { describe, expect, it } from "@effect/vitest"
import { methods, paths } from "../src/PodApi.js"

describe("PodApi", () => {
  it("serves each path with one method, GET but the hints", () => {
    expect([...paths].sort()).toEqual([
      "/healthz",
      "/hints",
      "/ownership",
      "/ownership/audit",
      "/peers",
      "/ping",
      "/probe",
      "/readyz"
    ])
    expect(methods.get("/hints")).toBe("POST")
    expect(methods.get("/ownership")).toBe("GET")
  })
})
