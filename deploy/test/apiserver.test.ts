/**
 * The packaging against a real Kubernetes 1.37 API server (etcd, kube-apiserver and
 * kube-controller-manager built by scripts/install-test-deps.sh, on loopback): the kustomize overlay
 * through a server-side dry run of the real kubectl, and the chart through a real `helm install`, whose
 * objects the API server validates and defaults and whose Deployment the controllers turn into pods
 * (which the API server validates as pods: Downward API field paths, security context, probes); then
 * `helm upgrade` and `helm rollback`. Each with Helm 4 (server-side apply, its default) and Helm 3
 * (client-side three-way merge), in namespaces of their own.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Components from "@miroir/cluster-sim/kube/Components"
import * as ControlPlane from "@miroir/cluster-sim/kube/ControlPlane"
import { waitUntil } from "@miroir/test-support/processKitAsPromises"
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { run, succeeded } from "./support/cli.js"
import { CHART, chartFile, type Helm, helm, HELMS, IMAGE_VALUES } from "./support/helm.js"
import { EXAMPLE_OVERLAY, EXAMPLE_OVERLAY_OBJECTS, kindsAndNames } from "./support/overlay.js"

describe("against a real API server", () => {
  const scope = Effect.runSync(Scope.make())
  const folder = mkdtempSync(join(tmpdir(), "miroir-deploy-apiserver-"))
  let kubeconfig = ""
  const kubectl = (...args: ReadonlyArray<string>) =>
    run(Components.path("kubectl"), ["--kubeconfig", kubeconfig, ...args])
  const json = async (...args: ReadonlyArray<string>) => JSON.parse(succeeded(await kubectl(...args, "-o", "json")))

  beforeAll(async () => {
    const started = Date.now()
    // The control plane lives in `scope`: closing it stops etcd, the API server and the controllers by their pids.
    const controlPlane = await Effect.runPromise(ControlPlane.make(folder).pipe(Scope.provide(scope)))
    kubeconfig = controlPlane.kubeconfig
    console.log(`control plane ${controlPlane.version} ready in ${Date.now() - started} ms`)
  }, 180_000)

  afterAll(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    rmSync(folder, { recursive: true, force: true })
  }, 60_000)

  it("takes the kustomize overlay in a server-side dry run, and stores nothing", async () => {
    // The overlay's namespace must exist for the dry run to be judged like a real apply.
    succeeded(await kubectl("create", "namespace", "search"))
    const applied = await json("apply", "-k", EXAMPLE_OVERLAY, "--dry-run=server")
    const objects: Array<any> = applied.kind === "List" ? applied.items : [applied]
    expect(kindsAndNames(objects)).toEqual(EXAMPLE_OVERLAY_OBJECTS)
    expect(objects.every((o) => o.metadata.namespace === "search")).toBe(true)
    // Defaulted by the server: the headless Service kept clusterIP None, the other was given an address.
    const headless = objects.find((o) => o.metadata.name === "eu-miroir-headless")
    expect(headless.spec.clusterIP).toBe("None")
    expect(objects.find((o) => o.kind === "Service" && o.metadata.name === "eu-miroir").spec.clusterIP).toMatch(
      /^10\.96\./
    )
    expect(objects.find((o) => o.kind === "Deployment").spec.replicas).toBe(5)
    const stored = await json(
      "get",
      "deployments,services,serviceaccounts,poddisruptionbudgets",
      "--namespace",
      "search"
    )
    expect(stored.items.filter((o: any) => o.metadata.name !== "default")).toEqual([])
  }, 120_000)

  describe.each(HELMS)("with $name", (h: Helm) => {
    const env = () => ({ KUBECONFIG: kubeconfig })
    /** `helm install <release>` of the chart with the image's values into `namespace`, and `extra` after them. */
    const install = (release: string, namespace: string, ...extra: ReadonlyArray<string>) =>
      helm(["install", release, CHART, "--namespace", namespace, "--values", IMAGE_VALUES, ...extra], env(), h)

    it(
      "helm installs the chart with its default values: the API server stores every object, the controllers make its pods, helm uninstall removes them",
      async () => {
        const namespace = `chart-defaults-v${h.major}`
        const installed = succeeded(
          await install("miroir", namespace, "--create-namespace")
        )
        expect(installed).toMatch(/STATUS: deployed/)
        // NOTES.txt tells the operator which records to expect.
        expect(installed).toContain(`SRV records of\n  _http._tcp.miroir-headless.${namespace}.svc.<cluster domain>`)
        const manifest = succeeded(await helm(["get", "manifest", "miroir", "--namespace", namespace], env(), h))
        expect(manifest).toContain("kind: Deployment")

        const stored = await json(
          "get",
          "deployments,services,serviceaccounts,poddisruptionbudgets",
          "--namespace",
          namespace
        )
        expect(stored.items.map((o: any) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
          "Deployment/miroir",
          "PodDisruptionBudget/miroir",
          "Service/miroir",
          "Service/miroir-headless",
          "ServiceAccount/default",
          "ServiceAccount/miroir"
        ])
        expect(stored.items.find((o: any) => o.metadata.name === "miroir-headless").spec.clusterIP).toBe("None")

        // The ReplicaSet controller creates the pods (no scheduler or kubelet here: they stay Pending).
        // Each one passed the API server's pod validation, which the Deployment's own validation does not
        // fully repeat (field paths of the Downward API, among others).
        const selector = "app.kubernetes.io/instance=miroir"
        await waitUntil(
          "3 pods of the release",
          90_000,
          async () => (await json("get", "pods", "--namespace", namespace, "-l", selector)).items.length === 3
        )
        const pods = (await json("get", "pods", "--namespace", namespace, "-l", selector)).items
        for (const pod of pods) {
          const env = new Map<string, any>(pod.spec.containers[0].env.map((v: any) => [v.name, v]))
          expect(env.get("POD_IP")?.valueFrom?.fieldRef?.fieldPath).toBe("status.podIP")
          expect(env.get("MIROIR_PEER_DISCOVERY_SERVICE")?.value).toBe("miroir-headless")
          expect(pod.spec.automountServiceAccountToken).toBe(false)
          expect(pod.spec.serviceAccountName).toBe("miroir")
          // V8's old space: half of the 256Mi limit.
          expect(env.get("NODE_OPTIONS")?.value).toBe("--max-old-space-size=128")
          expect(pod.spec.containers[0].lifecycle.preStop).toEqual({
            exec: { command: ["node", "/app/miroir.mjs", "leave", "--delay", "5s"] }
          })
        }

        succeeded(await helm(["uninstall", "miroir", "--namespace", namespace], env(), h))
        expect((await json("get", "deployments,services", "--namespace", namespace)).items).toEqual([])
      },
      180_000
    )

    it(
      "helm install --dry-run=server in A-record mode: checked against the server's schema, nothing stored, NOTES name the A records",
      async () => {
        const namespace = `chart-a-records-v${h.major}`
        const output = succeeded(
          await install("miroir", namespace, "--dry-run=server", "--values", chartFile("tests/good/a-record.yaml"))
        )
        expect(output).toMatch(/STATUS: pending-install/)
        expect(output).toContain("value: \"a\"")
        expect(output).toContain(`A/AAAA records of\n  miroir-headless.${namespace}.svc.<cluster domain>`)
        expect((await json("get", "deployments,services", "--namespace", namespace)).items).toEqual([])
      },
      120_000
    )

    it(
      "helm installs the production values (NetworkPolicy and PodDisruptionBudget too; the Prometheus Operator's kinds off: no CRDs here)",
      async () => {
        const namespace = `chart-production-v${h.major}`
        succeeded(
          await install(
            "search",
            namespace,
            "--create-namespace",
            "--values",
            chartFile("tests/good/production.yaml"),
            "--set",
            "serviceMonitor.enabled=false",
            "--set",
            "prometheusRule.enabled=false"
          )
        )
        const stored = await json(
          "get",
          "deployments,services,networkpolicies,poddisruptionbudgets,serviceaccounts",
          "--namespace",
          namespace
        )
        expect(
          stored.items.filter((o: any) => o.metadata.name !== "default").map((o: any) => `${o.kind}/${o.metadata.name}`)
            .sort()
        ).toEqual([
          "Deployment/search-miroir",
          "NetworkPolicy/search-miroir",
          "PodDisruptionBudget/search-miroir",
          "Service/search-miroir",
          "Service/search-miroir-headless",
          "ServiceAccount/search-miroir"
        ])
        succeeded(await helm(["uninstall", "search", "--namespace", namespace], env(), h))
      },
      180_000
    )

    it(
      "refuses to install the ServiceMonitor or PrometheusRule where the Prometheus Operator's CRDs are missing, naming the value, and creates nothing",
      async () => {
        const namespace = `chart-no-crds-v${h.major}`
        for (const value of ["serviceMonitor", "prometheusRule"]) {
          const outcome = await install("miroir", namespace, "--create-namespace", "--set", `${value}.enabled=true`)
          expect(outcome.code).not.toBe(0)
          expect(outcome.stderr).toContain(
            `${value}.enabled needs the Prometheus Operator's CRDs (API monitoring.coreos.com/v1)`
          )
        }
        expect((await json("get", "deployments,services", "--namespace", namespace)).items).toEqual([])
      },
      120_000
    )

    it(
      "helm upgrade changes the pod template and the replicas, helm rollback brings revision 1 back (Helm 4 applies server-side, Helm 3 patches client-side)",
      async () => {
        const namespace = `chart-rollback-v${h.major}`
        const deployment = () => json("get", "deployment", "miroir", "--namespace", namespace)
        const releaseArgs = ["miroir", CHART, "--namespace", namespace, "--values", IMAGE_VALUES]
        succeeded(await install("miroir", namespace, "--create-namespace"))
        // Who wrote the Deployment, as the API server records it: Helm 4 through server-side apply (its
        // default for a new release), Helm 3 through a create and patches.
        const managed = await json("get", "deployment", "miroir", "--namespace", namespace, "--show-managed-fields")
        const managers = managed.metadata.managedFields.map((f: any) => `${f.manager} ${f.operation}`)
        expect(managers).toContain(h.major === 4 ? "helm Apply" : "helm Update")

        succeeded(
          await helm(
            ["upgrade", ...releaseArgs, "--set", "replicaCount=4", "--set-string", "podAnnotations.rollout=r2"],
            env(),
            h
          )
        )
        const upgraded = await deployment()
        expect(upgraded.spec.replicas).toBe(4)
        expect(upgraded.spec.template.metadata.annotations?.rollout).toBe("r2")
        expect(upgraded.metadata.generation).toBe(2)

        succeeded(await helm(["rollback", "miroir", "1", "--namespace", namespace], env(), h))
        const rolledBack = await deployment()
        expect(rolledBack.spec.replicas).toBe(3)
        // The annotation revision 2 added is gone again: the pod template is revision 1's.
        expect(rolledBack.spec.template.metadata.annotations?.rollout).toBeUndefined()
        const history = JSON.parse(
          succeeded(await helm(["history", "miroir", "--namespace", namespace, "--output", "json"], env(), h))
        )
        expect(history.map((r: any) => [r.revision, r.status, r.description])).toEqual([
          [1, "superseded", "Install complete"],
          [2, "superseded", "Upgrade complete"],
          [3, "deployed", "Rollback to 1"]
        ])
        succeeded(await helm(["uninstall", "miroir", "--namespace", namespace], env(), h))
      },
      180_000
    )

    it(
      h.major === 4 ?
        "after kubectl scale, helm upgrade of the values' replicas fails on the field kubectl owns (server-side apply); it passes with the current count, and --force-conflicts takes the field back" :
        "after kubectl scale, helm upgrade puts the values' replicas back (client-side three-way merge)",
      async () => {
        const namespace = `chart-scaled-v${h.major}`
        const replicas = async () =>
          (await json("get", "deployment", "miroir", "--namespace", namespace)).spec.replicas as number
        const upgrade = (...extra: ReadonlyArray<string>) =>
          helm(["upgrade", "miroir", CHART, "--namespace", namespace, "--values", IMAGE_VALUES, ...extra], env(), h)
        succeeded(await install("miroir", namespace, "--create-namespace"))
        succeeded(await kubectl("scale", "deployment/miroir", "--namespace", namespace, "--replicas=5"))
        if (h.major === 3) {
          succeeded(await upgrade())
          expect(await replicas()).toBe(3)
        } else {
          const refused = await upgrade()
          expect(refused.code).not.toBe(0)
          expect(refused.stderr).toContain(`conflict with "kubectl" with subresource "scale"`)
          expect(refused.stderr).toContain(".spec.replicas")
          expect(await replicas()).toBe(5)
          // The same value as kubectl's is no conflict (the acceptance's rolling update passes the count).
          succeeded(await upgrade("--set", "replicaCount=5"))
          expect(await replicas()).toBe(5)
          succeeded(await upgrade("--force-conflicts"))
          expect(await replicas()).toBe(3)
        }
        succeeded(await helm(["uninstall", "miroir", "--namespace", namespace], env(), h))
      },
      180_000
    )
  })
})
