/**
 * The Kubernetes API schemas of the objects the packaging renders: kubernetes-models for the core
 * kinds, @kubernetes-models/prometheus-operator (generated from the operator's CRDs) for ServiceMonitor
 * and PrometheusRule. A kind without a schema here is an error, so that a new template cannot slip
 * through unchecked.
 */
import { PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1"
import { Deployment } from "kubernetes-models/apps/v1"
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1"
import { PodDisruptionBudget } from "kubernetes-models/policy/v1"
import { Namespace, Pod, Service, ServiceAccount } from "kubernetes-models/v1"
import type { KubeObject } from "./helm.js"

type Model = (object: any) => { validate(): void }

const models: Readonly<Record<string, Model>> = {
  "apps/v1/Deployment": (object) => new Deployment(object),
  "v1/Service": (object) => new Service(object),
  "v1/Namespace": (object) => new Namespace(object),
  "v1/ServiceAccount": (object) => new ServiceAccount(object),
  "v1/Pod": (object) => new Pod(object),
  "policy/v1/PodDisruptionBudget": (object) => new PodDisruptionBudget(object),
  "networking.k8s.io/v1/NetworkPolicy": (object) => new NetworkPolicy(object),
  "monitoring.coreos.com/v1/ServiceMonitor": (object) => new ServiceMonitor(object),
  "monitoring.coreos.com/v1/PrometheusRule": (object) => new PrometheusRule(object)
}

/**
 * The schema violations of `object`: empty when it is valid, one message when it is not (the models
 * stop at the first error) or when its kind has no schema here.
 */
export const violations = (object: KubeObject): Array<string> => {
  const key = `${object.apiVersion}/${object.kind}`
  const model = models[key]
  if (model === undefined) {
    return [`${key} ${object.metadata?.name}: no schema for this kind (add it to deploy/test/support/schemas.ts)`]
  }
  try {
    model(object).validate()
    return []
  } catch (error) {
    return [`${key} ${object.metadata.name}: ${error instanceof Error ? error.message : String(error)}`]
  }
}
