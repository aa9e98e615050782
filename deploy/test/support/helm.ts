/**
 * The real Helm (built by scripts/install-test-deps.sh; Components.path names the fix when it is
 * missing) run over charts/miroir: lint, template, and the objects a template renders. Helm 4 by
 * default; Helm 3 too, for the tests that run over {@link HELMS}.
 */
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { CommandResult } from "@miroir/cluster-sim/kube/Cli"
import * as Components from "@miroir/cluster-sim/kube/Components"
import { parseAllDocuments } from "yaml"
import { run, succeeded } from "./cli.js"

/** The chart's folder. */
export const CHART = fileURLToPath(new URL("../../../charts/miroir", import.meta.url))

/** A file of the chart, by its path in the chart. */
export const chartFile = (path: string): string => join(CHART, path)

/**
 * The Kubernetes version Helm renders for, whichever Helm: the API server the tests start is v1.37. Helm
 * 4 defaults to it (from the client-go it is built with); Helm 3 v3.21 defaults to v1.36 (its Makefile's
 * flags), or v1.20 built with plain `go install`.
 */
export const KUBE_VERSION = "1.37.0"

/** A Helm the chart is checked with: its executable among the components, and the release line it is. */
export interface Helm {
  /** For test names. */
  readonly name: string
  readonly executable: "helm" | "helm3"
  readonly major: 3 | 4
  /** What `helm version --short` says: the release line the tests expect. */
  readonly line: RegExp
}

/** Helm 4, the Helm of the README and of every test. */
export const HELM4: Helm = { name: "Helm 4", executable: "helm", major: 4, line: /^v4\.3\.\d+\b/ }

/** Helm 3, which the chart must still lint, render and install with while it gets security fixes (to 2027-02-10). */
export const HELM3: Helm = { name: "Helm 3", executable: "helm3", major: 3, line: /^v3\.21\.\d+\b/ }

/** The matrix of lint, template and install against the API server: Helm 4, then Helm 3. */
export const HELMS: ReadonlyArray<Helm> = [HELM4, HELM3]

/** The API group the Prometheus Operator's objects need, announced to Helm when monitoring is on. */
export const MONITORING_API = "monitoring.coreos.com/v1"

// Helm keeps caches and its repository list under these homes: a folder of the tests' own, so that
// nothing of the machine's Helm leaks in. One fixed folder, not one per run: vitest's workers end
// without an exit event to clean up after, and what Helm keeps there (nothing, for what these tests
// run) is the same for every run.
const HELM_HOME = join(tmpdir(), "miroir-deploy-helm")
const helmHomes: Readonly<Record<string, string>> = {
  HELM_CACHE_HOME: join(HELM_HOME, "cache"),
  HELM_CONFIG_HOME: join(HELM_HOME, "config"),
  HELM_DATA_HOME: join(HELM_HOME, "data")
}

/** Runs `which` Helm with `args`; `env` is added (a KUBECONFIG for commands that talk to a cluster). */
export const helm = (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {},
  which: Helm = HELM4
): Promise<CommandResult> => run(Components.path(which.executable), args, { ...helmHomes, ...env })

/**
 * The values file every render starts from unless told otherwise: an image repository. No Miroir image
 * is published, so the chart requires one (chart-bad-values.test.ts checks that it refuses to render
 * without).
 */
export const IMAGE_VALUES = chartFile("tests/image.yaml")

/** What a render or lint is given: value files (paths), `--set` pairs and API versions to announce. */
export interface Inputs {
  readonly valuesFiles?: ReadonlyArray<string>
  /** `key=value` pairs for `--set`, applied after the files. */
  readonly set?: ReadonlyArray<string>
  readonly apiVersions?: ReadonlyArray<string>
  /** Leave out {@link IMAGE_VALUES}. */
  readonly withoutImage?: boolean
}

const valuesArgs = (inputs: Inputs): Array<string> =>
  [
    ...(inputs.withoutImage === true ? [] : [IMAGE_VALUES]),
    ...(inputs.valuesFiles ?? [])
  ].flatMap((file) => ["--values", file]).concat((inputs.set ?? []).flatMap((pair) => ["--set", pair]))

/**
 * `helm lint --strict` of the chart: warnings fail too. (`helm lint` has no `--api-versions`; the
 * templates do not look at the API versions, so the lint of a monitoring case sees what its render does.)
 */
export const lint = (inputs: Inputs, which: Helm = HELM4): Promise<CommandResult> =>
  helm(["lint", "--strict", CHART, "--kube-version", KUBE_VERSION, ...valuesArgs(inputs)], {}, which)

/** `helm template` of the chart as `release` in `namespace`. */
export const template = (
  release: string,
  namespace: string,
  inputs: Inputs,
  which: Helm = HELM4
): Promise<CommandResult> =>
  helm(
    [
      "template",
      release,
      CHART,
      "--namespace",
      namespace,
      "--kube-version",
      KUBE_VERSION,
      ...valuesArgs(inputs),
      ...(inputs.apiVersions ?? []).flatMap((api) => ["--api-versions", api])
    ],
    {},
    which
  )

/** A rendered Kubernetes object, as plain data. */
export type KubeObject = {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: {
    readonly name: string
    readonly namespace?: string
    readonly labels?: Record<string, string>
    readonly annotations?: Record<string, string>
  }
  readonly [key: string]: any
}

/** The objects of a multi-document YAML stream (empty documents dropped); a YAML error throws. */
export const parseObjects = (yaml: string): Array<KubeObject> =>
  parseAllDocuments(yaml).flatMap((document) => {
    if (document.errors.length > 0) throw new Error(`invalid YAML: ${document.errors.map(String).join("; ")}`)
    const value = document.toJS()
    return value === null || value === undefined ? [] : [value as KubeObject]
  })

/** Renders the chart (must succeed) and returns its objects. */
export const render = async (
  release: string,
  namespace: string,
  inputs: Inputs,
  which: Helm = HELM4
): Promise<Array<KubeObject>> => parseObjects(succeeded(await template(release, namespace, inputs, which)))
