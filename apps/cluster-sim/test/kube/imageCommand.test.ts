/** The process kubelet's commands: the image's node and files become this machine's; nothing else runs. */
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { resolve } from "../../src/kube/internal/imageCommand.js"

const standIn = { command: "/usr/local/bin/node-20", files: { "/app/miroir.mjs": "/tmp/build/miroir.mjs" } }

describe("the process kubelet's image commands", () => {
  it("runs the image's node with the image's files mapped to the local ones, other arguments as written", () => {
    expect(resolve(standIn, ["node", "/app/miroir.mjs", "leave", "--delay", "5s"])).toEqual(
      Result.succeed({ command: "/usr/local/bin/node-20", args: ["/tmp/build/miroir.mjs", "leave", "--delay", "5s"] })
    )
    expect(resolve({ command: "node" }, ["node", "/app/miroir.mjs"])).toEqual(
      Result.succeed({ command: "node", args: ["/app/miroir.mjs"] })
    )
  })

  it("refuses any other executable, saying which", () => {
    expect(resolve(standIn, ["sh", "-c", "sleep 5"])).toEqual(
      Result.fail("the process kubelet runs node commands only, not sh")
    )
    expect(resolve(standIn, [])).toEqual(
      Result.fail("the process kubelet runs node commands only, not an empty command")
    )
  })
})
