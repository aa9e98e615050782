/**
 * A free loopback port, for a process about to be started (a pod's listener, a DNS server, a Kubernetes
 * component): asked of the kernel (port 0), then checked free for UDP too, since DNS serves both on one port.
 */
import { createSocket } from "node:dgram"
import { createServer } from "node:net"

/** A port free on `host` (a loopback address) for both TCP and UDP (DNS serves both on one port). */
export const freePort = async (host = "127.0.0.1"): Promise<number> => {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer()
      server.once("error", reject)
      server.listen(0, host, () => {
        const address = server.address()
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket("udp4")
      socket.once("error", () => resolve(false))
      socket.bind(port, host, () => socket.close(() => resolve(true)))
    })
    if (udpFree) return port
  }
  throw new Error(`no port free for both TCP and UDP on ${host}`)
}
