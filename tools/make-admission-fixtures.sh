#!/usr/bin/env bash
# Makes testdata/admission/*.json: AdmissionReview admission.k8s.io/v1 requests around real
# objects from `kubectl create ... --dry-run=client -o json`, wrapped as the API server wraps them
# (uid, kind, resource, requestKind, requestResource, name, namespace, operation, userInfo,
# object, oldObject, dryRun, options). No API server runs here: `kubectl create -f` and `kubectl
# run` need one even with --dry-run=client, so the Pod is the Deployment's pod template (as the
# ReplicaSet controller makes it) with an init container added.
#
# The images name repositories the serve tests publish on their own notary-server:
# example.com/trustpin/{web,sidecar,init,batch}.
set -euo pipefail
cd "$(dirname "$0")/.."
out=testdata/admission
mkdir -p "$out"
command -v kubectl >/dev/null || { echo "kubectl not found" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq not found" >&2; exit 1; }

# wrap NAME GROUP VERSION KIND RESOURCE UID < object
wrap() {
  jq --arg group "$2" --arg version "$3" --arg kind "$4" --arg resource "$5" --arg uid "$6" '
    {apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: {
      uid: $uid,
      kind: {group: $group, version: $version, kind: $kind},
      resource: {group: $group, version: $version, resource: $resource},
      requestKind: {group: $group, version: $version, kind: $kind},
      requestResource: {group: $group, version: $version, resource: $resource},
      name: .metadata.name, namespace: "default", operation: "CREATE",
      userInfo: {username: "kubernetes-admin", groups: ["kubeadm:cluster-admins", "system:authenticated"]},
      object: (.metadata.namespace = "default"), oldObject: null, dryRun: false,
      options: {kind: "CreateOptions", apiVersion: "meta.k8s.io/v1"}}}' > "$out/$1.json"
}

kubectl create deployment web --image=example.com/trustpin/web:v1 \
  --image=example.com/trustpin/sidecar:v1 --dry-run=client -o json > "$out/.deployment.object"
wrap deployment apps v1 Deployment deployments 0c4f2a35-7b9e-4f1e-9d55-6a1de8f1a001 < "$out/.deployment.object"

jq '{apiVersion: "v1", kind: "Pod",
     metadata: {name: "web-7c5ddbdf54-x2x9q", labels: .spec.template.metadata.labels, creationTimestamp: null},
     spec: (.spec.template.spec
            | .initContainers = [{name: "init", image: "example.com/trustpin/init:v1", resources: {}}]
            | .containers += [{name: "web-again", image: "example.com/trustpin/web:v1", resources: {}}]),
     status: {}}' "$out/.deployment.object" | wrap pod "" v1 Pod pods 0c4f2a35-7b9e-4f1e-9d55-6a1de8f1a002

kubectl create job batch --image=example.com/trustpin/batch:v1 --dry-run=client -o json \
  | wrap job batch v1 Job jobs 0c4f2a35-7b9e-4f1e-9d55-6a1de8f1a003
kubectl create cronjob nightly --image=example.com/trustpin/batch:v1 --schedule='0 3 * * *' \
  --dry-run=client -o json | wrap cronjob batch v1 CronJob cronjobs 0c4f2a35-7b9e-4f1e-9d55-6a1de8f1a004
kubectl create configmap settings --from-literal=image=example.com/trustpin/unsigned:v1 \
  --dry-run=client -o json | wrap configmap "" v1 ConfigMap configmaps 0c4f2a35-7b9e-4f1e-9d55-6a1de8f1a005
rm -f "$out/.deployment.object"
kubectl version --client 2>/dev/null | head -1 > "$out/KUBECTL_VERSION"
echo "wrote $(ls "$out"/*.json | wc -l) reviews to $out"
