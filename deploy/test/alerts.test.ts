/**
 * The chart's alert rules, rendered by the real Helm and evaluated by Prometheus's own rule unit tests
 * (`promtool test rules`) on series written here: each alert fires when its condition holds for its
 * window and stays silent otherwise; two releases in one namespace never trigger each other's alerts;
 * kube-state-metrics scraped twice neither doubles an alert nor breaks the match; staleness is judged
 * from the sample's own timestamp; windows follow the refresh interval.
 */
import { describe, expect, it } from "vitest"
import { type KubeObject, MONITORING_API, render } from "./support/helm.js"
import { type Expectation, ruleFile, type Series, testRules } from "./support/promtool.js"

const NAMESPACE = "search"
/** Two releases of the chart in one namespace, with the defaults' refresh interval (15 s, audit 45 s). */
const A = { release: "search", job: "search-miroir" }
const B = { release: "search-eu", job: "search-eu-miroir" }
const RUNBOOK = "https://example.com/miroir/README.md"

const prometheusRule = async (release: string, set: ReadonlyArray<string> = []): Promise<KubeObject> => {
  const objects = await render(release, NAMESPACE, {
    set: ["prometheusRule.enabled=true", `prometheusRule.runbookUrl=${RUNBOOK}`, ...set],
    apiVersions: [MONITORING_API]
  })
  const rule = objects.find((o) => o.kind === "PrometheusRule")
  if (rule === undefined) throw new Error(`no PrometheusRule rendered for ${release}`)
  return rule
}

const rulesOf = (rule: KubeObject): Array<any> => rule.spec.groups.flatMap((group: any) => group.rules)

/** The static annotations of an alert as rendered (no Prometheus template in them), for expectations. */
const staticAnnotations = (rule: KubeObject, alert: string): Record<string, string> => {
  const found = rulesOf(rule).find((r) => r.alert === alert)
  if (found === undefined) throw new Error(`no rule ${alert}`)
  expect(found.annotations.description).not.toContain("{{")
  return { description: found.annotations.description, runbook_url: found.annotations.runbook_url }
}

/** A pod's series of job `job`, as a ServiceMonitor labels it. */
const pod = (metric: string, job: string, name: string, values: string): Series => ({
  series:
    `${metric}{namespace="${NAMESPACE}", job="${job}", service="${job}", pod="${name}", container="miroir", endpoint="metrics", instance="${name}:9090"}`,
  values
})

/** kube-state-metrics' ready replicas of a Deployment, from one of its replicas (`instance`). */
const ksm = (deployment: string, instance: string, values: string): Series => ({
  series:
    `kube_deployment_status_replicas_ready{namespace="${NAMESPACE}", deployment="${deployment}", job="kube-state-metrics", instance="${instance}"}`,
  values
})

describe("alert rules under promtool", async () => {
  const [ruleA, ruleB] = await Promise.all([prometheusRule(A.release), prometheusRule(B.release)])
  const files = { "a.yaml": ruleFile(ruleA), "b.yaml": ruleFile(ruleB) }
  const annotations = (rule: KubeObject, alert: string, summary: string) => ({
    ...staticAnnotations(rule, alert),
    summary
  })
  const check = async (name: string, series: ReadonlyArray<Series>, expectations: ReadonlyArray<Expectation>) => {
    const outcome = await testRules(files, [{ name, interval: "15s", series, expectations }])
    expect(outcome.code, `${outcome.stdout}\n${outcome.stderr}`).toBe(0)
  }

  it("checks the rendered rule files (promtool check rules)", async () => {
    const outcome = await testRules(files, [])
    expect(outcome.code, `${outcome.stdout}\n${outcome.stderr}`).toBe(0)
  })

  it("MiroirPeerDiscoveryGap: fires for the lagging pod of its own release only, after 2m; kube-state-metrics in HA counts once", async () => {
    const gap = (job: string, podName: string, value: number) => ({
      labels: { alertname: "MiroirPeerDiscoveryGap", severity: "warning", namespace: NAMESPACE, job, pod: podName },
      annotations: annotations(
        job === A.job ? ruleA : ruleB,
        "MiroirPeerDiscoveryGap",
        `Miroir pod ${podName} of ${job} sees ${value} peers, fewer than the ready replicas`
      )
    })
    await check("gap", [
      // Release A: 3 ready replicas, reported by two kube-state-metrics replicas; pod a2 sees only 2.
      ksm(A.job, "ksm-0:8080", "3x40"),
      ksm(A.job, "ksm-1:8080", "3x40"),
      pod("miroir_peer_pod_count", A.job, "a1", "3x40"),
      pod("miroir_peer_pod_count", A.job, "a2", "2x40"),
      pod("miroir_peer_pod_count", A.job, "a3", "3x40"),
      // Release B in the same namespace: 5 ready replicas, its pods see 5 — then b1 lags too.
      ksm(B.job, "ksm-0:8080", "5x40"),
      ksm(B.job, "ksm-1:8080", "5x40"),
      pod("miroir_peer_pod_count", B.job, "b1", "5x12 4x28"),
      pod("miroir_peer_pod_count", B.job, "b2", "5x40")
    ], [
      // Pending for its first 2 minutes.
      { evalTime: "1m", alertname: "MiroirPeerDiscoveryGap", alerts: [] },
      // Each release's rule fires for its own lagging pod, once, though its replicas are counted twice.
      { evalTime: "3m", alertname: "MiroirPeerDiscoveryGap", alerts: [gap(A.job, "a2", 2)] },
      { evalTime: "6m", alertname: "MiroirPeerDiscoveryGap", alerts: [gap(A.job, "a2", 2), gap(B.job, "b1", 4)] }
    ])
  })

  it("MiroirPeerDiscoveryGap: silent when every pod sees the ready replicas, whatever the other release's Deployment has", async () => {
    await check("gap silent", [
      ksm(A.job, "ksm-0:8080", "3x40"),
      ksm(A.job, "ksm-1:8080", "3x40"),
      ksm(B.job, "ksm-0:8080", "9x40"),
      pod("miroir_peer_pod_count", A.job, "a1", "3x40"),
      pod("miroir_peer_pod_count", A.job, "a2", "3x40"),
      // More peers than ready replicas (publishNotReadyAddresses): not a gap.
      pod("miroir_peer_pod_count", B.job, "b1", "10x40")
    ], [{ evalTime: "8m", alertname: "MiroirPeerDiscoveryGap", alerts: [] }])
  })

  it("MiroirPeerDiscoveryStale: fires when a pod's last answer is older than 3R (45s) for 1m, for that pod and release only", async () => {
    const stale = (job: string, podName: string, age: string) => ({
      labels: { alertname: "MiroirPeerDiscoveryStale", severity: "warning", namespace: NAMESPACE, job, pod: podName },
      annotations: annotations(
        job === A.job ? ruleA : ruleB,
        "MiroirPeerDiscoveryStale",
        `Miroir pod ${podName} of ${job} has had no DNS answer for ${age}`
      )
    })
    await check("stale", [
      // The value is the Unix time of the last answer: 0+15x… is "answered at every scrape".
      pod("miroir_peer_discovery_last_success_timestamp_seconds", A.job, "a1", "0+15x40"),
      // a2's answers stop at 60 s.
      pod("miroir_peer_discovery_last_success_timestamp_seconds", A.job, "a2", "0+15x4 60x36"),
      pod("miroir_peer_discovery_last_success_timestamp_seconds", B.job, "b1", "0+15x40")
    ], [
      // At 150 s a2's answer is 90 s old (over 45 s since 105 s), but not yet for 1m.
      { evalTime: "150s", alertname: "MiroirPeerDiscoveryStale", alerts: [] },
      { evalTime: "4m", alertname: "MiroirPeerDiscoveryStale", alerts: [stale(A.job, "a2", "3m 0s")] }
    ])
  })

  it("MiroirPeerDiscoveryStale: silent while answers keep coming, and when scrapes stop (the age is judged at the last scrape, not at evaluation)", async () => {
    await check("stale silent", [
      pod("miroir_peer_discovery_last_success_timestamp_seconds", A.job, "a1", "0+15x40"),
      // Answers every 30 s, scraped every 15 s: never older than 30 s.
      pod(
        "miroir_peer_discovery_last_success_timestamp_seconds",
        A.job,
        "a2",
        "0 0 30 30 60 60 90 90 120 120 150 150 180 180 210 210 240 240 270 270"
      ),
      // Scraped until 60 s, then no more samples (a scrape that failed, a pod being replaced): within
      // the 5 minutes Prometheus still returns the last sample, whose own age was 0. time() minus the
      // value would call it stale at 105 s.
      pod("miroir_peer_discovery_last_success_timestamp_seconds", A.job, "a3", "0+15x4 _x36")
    ], [
      { evalTime: "4m", alertname: "MiroirPeerDiscoveryStale", alerts: [] },
      { evalTime: "5m", alertname: "MiroirPeerDiscoveryStale", alerts: [] }
    ])
  })

  it("MiroirPeerViewsDisagree: fires when a release's pods hold two views for 4 audit intervals (3m), not when two releases differ", async () => {
    const alert = {
      labels: { alertname: "MiroirPeerViewsDisagree", severity: "warning", namespace: NAMESPACE, job: A.job },
      annotations: annotations(ruleA, "MiroirPeerViewsDisagree", `Miroir pods of ${A.job} disagree on their peers`)
    }
    await check("views", [
      pod("miroir_peer_view_digest", A.job, "a1", "111x40"),
      pod("miroir_peer_view_digest", A.job, "a2", "111x4 222x36"),
      // Release B agrees with itself, on another view than A's.
      pod("miroir_peer_view_digest", B.job, "b1", "333x40"),
      pod("miroir_peer_view_digest", B.job, "b2", "333x40")
    ], [
      { evalTime: "2m", alertname: "MiroirPeerViewsDisagree", alerts: [] },
      { evalTime: "5m", alertname: "MiroirPeerViewsDisagree", alerts: [alert] }
    ])
    await check("views silent", [
      pod("miroir_peer_view_digest", A.job, "a1", "111x40"),
      pod("miroir_peer_view_digest", A.job, "a2", "111x40"),
      pod("miroir_ownership_audit_distinct_views", A.job, "a1", "1x40"),
      pod("miroir_peer_view_digest", B.job, "b1", "333x40")
    ], [{ evalTime: "8m", alertname: "MiroirPeerViewsDisagree", alerts: [] }])
  })

  const auditGauges: ReadonlyArray<readonly [string, string, string, (value: number) => string]> = [
    [
      "MiroirShardsUnowned",
      "miroir_ownership_audit_unowned_shards",
      "critical",
      (v) => `${v} shards of ${A.job} have no owner`
    ],
    [
      "MiroirShardsMultiOwned",
      "miroir_ownership_audit_multi_owned_shards",
      "warning",
      (v) => `${v} shards of ${A.job} are claimed by more than one pod`
    ],
    [
      "MiroirPeerIdentityMismatch",
      "miroir_ownership_audit_identity_mismatches",
      "warning",
      () => `A Miroir pod of ${A.job} does not recognise itself in DNS`
    ],
    [
      "MiroirOwnershipAuditPeersUnreachable",
      "miroir_ownership_audit_unreachable_peers",
      "warning",
      (v) => `The Miroir ownership audit of ${A.job} cannot reach ${v} peers`
    ]
  ]

  it.each(auditGauges)(
    "%s: fires on its release's audit finding after 3m (4 audit intervals), not on the other release's, silent at zero",
    async (alertname, metric, severity, summary) => {
      await check(alertname, [
        // a1 is A's auditor; a2 reports 0 like every pod that is not the auditor.
        pod(metric, A.job, "a1", "0x4 7x36"),
        pod(metric, A.job, "a2", "0x40"),
        // B's auditor found something from the start: it is B's alert, not A's.
        pod(metric, B.job, "b1", "5x40")
      ], [
        { evalTime: "2m", alertname, alerts: [] },
        {
          evalTime: "3m30s",
          alertname,
          alerts: [{
            labels: { alertname, severity, namespace: NAMESPACE, job: B.job },
            annotations: annotations(ruleB, alertname, summary(5).replace(A.job, B.job))
          }]
        },
        {
          evalTime: "5m",
          alertname,
          alerts: [
            {
              labels: { alertname, severity, namespace: NAMESPACE, job: A.job },
              annotations: annotations(ruleA, alertname, summary(7))
            },
            {
              labels: { alertname, severity, namespace: NAMESPACE, job: B.job },
              annotations: annotations(ruleB, alertname, summary(5).replace(A.job, B.job))
            }
          ]
        }
      ])
      await check(`${alertname} silent`, [pod(metric, A.job, "a1", "0x40"), pod(metric, A.job, "a2", "0x40")], [
        { evalTime: "8m", alertname, alerts: [] }
      ])
    }
  )

  it("MiroirOwnershipAuditMissing: silent while one pod audits (others report 0); fires when the latest audit is older than 5A (225s) for 3m", async () => {
    await check("audit running", [
      pod("miroir_ownership_audit_last_run_timestamp_seconds", A.job, "a1", "0+15x60"),
      pod("miroir_ownership_audit_last_run_timestamp_seconds", A.job, "a2", "0x60")
    ], [{ evalTime: "14m", alertname: "MiroirOwnershipAuditMissing", alerts: [] }])
    const alert = {
      labels: { alertname: "MiroirOwnershipAuditMissing", severity: "warning", namespace: NAMESPACE, job: A.job },
      annotations: annotations(
        ruleA,
        "MiroirOwnershipAuditMissing",
        `No Miroir pod of ${A.job} has audited ownership for five audit intervals`
      )
    }
    await check("audit stopped", [
      // The last audit at 60 s: older than 225 s from 285 s, firing 3m later.
      pod("miroir_ownership_audit_last_run_timestamp_seconds", A.job, "a1", "0+15x4 60x56"),
      pod("miroir_ownership_audit_last_run_timestamp_seconds", A.job, "a2", "0x60"),
      pod("miroir_ownership_audit_last_run_timestamp_seconds", B.job, "b1", "0+15x60")
    ], [
      { evalTime: "7m", alertname: "MiroirOwnershipAuditMissing", alerts: [] },
      { evalTime: "9m", alertname: "MiroirOwnershipAuditMissing", alerts: [alert] }
    ])
  })
})

describe("alert windows follow the refresh interval", () => {
  const windows = async (refreshInterval: string, lookupTimeout: string) => {
    const rule = await prometheusRule("miroir", [
      `discovery.refreshInterval=${refreshInterval}`,
      `discovery.lookupTimeout=${lookupTimeout}`
    ])
    const byName = new Map(rulesOf(rule).map((r) => [r.alert, r]))
    return {
      gapFor: byName.get("MiroirPeerDiscoveryGap").for,
      staleAfter: /> (\S+)\s*$/.exec(byName.get("MiroirPeerDiscoveryStale").expr)?.[1],
      staleFor: byName.get("MiroirPeerDiscoveryStale").for,
      ownershipFor: byName.get("MiroirShardsUnowned").for,
      auditMissingAfter: /> (\S+)\s*$/.exec(byName.get("MiroirOwnershipAuditMissing").expr)?.[1]
    }
  }

  it.each(
    [
      // R, timeout: gap for 4R (≥ 2m); stale past 3R for 2R (≥ 1m); ownership for 4A (A = 3R, ≥ 2m); audit missing past 5A.
      ["250ms", "100ms", {
        gapFor: "120s",
        staleAfter: "0.750",
        staleFor: "60s",
        ownershipFor: "120s",
        auditMissingAfter: "3.750"
      }],
      ["15s", "3s", {
        gapFor: "120s",
        staleAfter: "45",
        staleFor: "60s",
        ownershipFor: "180s",
        auditMissingAfter: "225"
      }],
      ["2m", "3s", {
        gapFor: "480s",
        staleAfter: "360",
        staleFor: "240s",
        ownershipFor: "1440s",
        auditMissingAfter: "1800"
      }],
      ["1h", "3s", {
        gapFor: "14400s",
        staleAfter: "10800",
        staleFor: "7200s",
        ownershipFor: "43200s",
        auditMissingAfter: "54000"
      }]
    ] as const
  )("refresh interval %s", async (refresh, timeout, expected) => {
    expect(await windows(refresh, timeout)).toEqual(expected)
  })
})
