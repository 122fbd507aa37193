#!/usr/bin/env bash
# DEPLOY: the one place where your platform plugs in. CI calls it after a version became prod
# (promote) or after a rollback, on both GitHub and GitLab:
#   scripts/deploy.sh IMAGE VERSION
# IMAGE is the pushed, immutable image of the model-set version VERSION. Replace the body with your
# platform's command; keep it idempotent (a rollback deploys an image that ran before).
#
# Worked example, Kubernetes: with KUBE_CONFIG (a kubeconfig allowed to patch one Deployment; a
# secret of the `production` environment), the Deployment DEPLOYMENT (default: the project's
# name, also its container's name) in NAMESPACE gets the new image. Its pods are replaced one by
# one, each only once its readinessProbe (GET /ready) passes, so no request is dropped.
set -euo pipefail

IMAGE=${1:?usage: scripts/deploy.sh IMAGE VERSION}
VERSION=${2:?usage: scripts/deploy.sh IMAGE VERSION}
DEPLOYMENT=${DEPLOYMENT:-{{ cookiecutter.project_slug }}}
NAMESPACE=${NAMESPACE:-default}

if [ -z "${KUBE_CONFIG:-}" ]; then
  echo "deploy: model-set $VERSION is prod, image $IMAGE; no platform configured (KUBE_CONFIG), nothing deployed"
  exit 0
fi
command -v kubectl > /dev/null || { echo "deploy: kubectl is not installed in this job's image"; exit 1; }
KUBECONFIG=$(mktemp)
export KUBECONFIG
trap 'rm -f "$KUBECONFIG"' EXIT
printf '%s' "$KUBE_CONFIG" > "$KUBECONFIG"
kubectl --namespace "$NAMESPACE" set image "deployment/$DEPLOYMENT" "$DEPLOYMENT=$IMAGE"
kubectl --namespace "$NAMESPACE" annotate "deployment/$DEPLOYMENT" --overwrite "model-set/version=$VERSION"
kubectl --namespace "$NAMESPACE" rollout status "deployment/$DEPLOYMENT" --timeout=10m
echo "deploy: model-set $VERSION ($IMAGE) runs in deployment/$DEPLOYMENT"
