/**
 * This pod's answer to `GET /ping`: `{"status":"ok","down":[…]}`, the peers its failure detector holds
 * down (the contract's PingAnswer). A pod that its peers cannot reach, but that reaches them, learns from
 * these answers that they hold it down, and fences itself (the library's PeerProbe.Answer).
 *
 * The guarded server answers pings itself, synchronously and before any queue (HttpApi/Server.ts), so that
 * a flood of the API cannot delay them: it reads the answer's bytes from {@link Service.body}, a cell that
 * {@link layerFollowingHealth} rewrites on every change of the detector's verdicts. The cell is a layer of
 * its own, with no dependencies ({@link layer}), because the server is built before the detector (the
 * detector probes over the server's port) and must not depend on it.
 */
import { PeerHealth, type PeerId } from "@miroir/peer-discovery"
import { PingAnswer as PingAnswerBody } from "@miroir/pod-api"
import { Context, Effect, Layer, Schema, Stream } from "effect"

/** What the answer offers. */
export interface Service {
  /** The bytes of the answer now (JSON): read by the server at each ping, so never more than a copy. */
  readonly body: () => Uint8Array
  /** Answers from now on that this pod holds `down` down (sorted, as the detector gives it). */
  readonly holdingDown: (down: ReadonlyArray<PeerId.PeerId>) => Effect.Effect<void>
}

/** The answer to `GET /ping` as a service. */
export class PingAnswer extends Context.Service<PingAnswer, Service>()("@miroir/miroir/PingAnswer") {}

const encode = Schema.encodeSync(PingAnswerBody)

/** The bytes of the answer of a pod that holds `down` down. */
export const bodyOf = (down: ReadonlyArray<string>): Uint8Array =>
  Buffer.from(JSON.stringify(encode({ status: "ok", down })))

/** Builds the answer: nobody held down until told otherwise (as a detector starts). */
export const make: Effect.Effect<Service> = Effect.sync(() => {
  // Encoded once per change, not per ping: a ping costs the server no more than a constant.
  let current = bodyOf([])
  return {
    body: () => current,
    holdingDown: (down) =>
      Effect.sync(() => {
        current = bodyOf(down)
      })
  } satisfies Service
})

/** The answer, with no dependencies: the server reads it, {@link layerFollowingHealth} keeps it current. */
export const layer: Layer.Layer<PingAnswer> = Layer.effect(PingAnswer, make)

/**
 * Keeps the {@link PingAnswer} in context current: the failure detector's `down` now, then after every
 * change of its verdicts, in a fiber of the layer's scope.
 */
export const layerFollowingHealth: Layer.Layer<never, never, PingAnswer | PeerHealth.PeerHealth> = Layer
  .effectDiscard(
    Effect.gen(function*() {
      const answer = yield* PingAnswer
      const detector = yield* PeerHealth.PeerHealth
      yield* detector.changes.pipe(
        Stream.runForEach((health) => answer.holdingDown(health.down)),
        Effect.forkScoped
      )
    })
  )
