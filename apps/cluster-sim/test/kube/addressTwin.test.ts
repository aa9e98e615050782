/**
 * The process kubelet's stand-in for the routes between pods: the MIROIR_PEER_ADDRESS_TWIN it gives every
 * pod names the same two networks as loopbackTwin, where it runs the pods' processes.
 */
import { describe, expect, it } from "vitest"
import { addressTwinVariable, loopbackTwin } from "../../src/kube/ProcessKubelet.js"

const networks = { podNetwork: "198.51.100", loopbackNetwork: "127.0.2" }

describe("ProcessKubelet.addressTwinVariable", () => {
  it("maps the pod network's /24 onto the loopback network's, as loopbackTwin does address by address", () => {
    expect(addressTwinVariable(networks)).toBe("198.51.100.0/24=127.0.2.0/24")
    expect(loopbackTwin("198.51.100.37", networks)).toBe("127.0.2.37")
    expect(addressTwinVariable({ podNetwork: "203.0.113", loopbackNetwork: "127.0.9" })).toBe(
      "203.0.113.0/24=127.0.9.0/24"
    )
  })
})
