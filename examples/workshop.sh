#!/usr/bin/env bash
# A workshop's bootstrap, with documented kcpenv commands only: bring up the `workshop`
# profile, then the first exercise — a CronTab created in the consumer workspace shows
# up on the service cluster (api-syncagent), its status comes back, and alice is
# granted `list configmaps` in root:orgs through OpenFGA.
#
#   bash examples/workshop.sh            # environment "workshop" on the default ports
#   KCPENV_NAME=ws2 WORKSHOP_PORT_OFFSET=100 bash examples/workshop.sh
#
# Needs kcpenv and kubectl on PATH. Re-running it is safe (`up` is idempotent).
set -euo pipefail

export KCPENV_NAME=${KCPENV_NAME:-workshop}
OFFSET=${WORKSHOP_PORT_OFFSET:-0}

step() { printf '\n== %s\n' "$*"; }

step "bring up kcp, Dex, OpenFGA and api-syncagent"
kcpenv up --profile workshop --port-offset "$OFFSET" --output plain
kcpenv status

step "the kubeconfigs"
kcpenv kubeconfig --list
consumer=$(kcpenv kubeconfig --list --output json | python3 -c 'import json,sys; print(next(k["path"] for k in json.load(sys.stdin) if k["name"] == "consumer"))')
service=$(kcpenv kubeconfig --list --output json | python3 -c 'import json,sys; print(next(k["path"] for k in json.load(sys.stdin) if k["name"] == "service-cluster"))')

step "exercise 1: create a CronTab in the consumer workspace"
kubectl --kubeconfig "$consumer" apply -f - <<'YAML'
apiVersion: example.kcpenv.dev/v1
kind: CronTab
metadata:
  name: hello-workshop
  namespace: default
spec:
  schedule: "*/5 * * * *"
YAML

step "... and find it on the service cluster"
for _ in $(seq 1 60); do
  below=$(kubectl --kubeconfig "$service" get crontabs -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' | head -n1)
  [ -n "$below" ] && break
  sleep 1
done
[ -n "$below" ] || { echo "the CronTab did not reach the service cluster" >&2; exit 1; }
kubectl --kubeconfig "$service" get crontabs -A

step "the service cluster reports status; kcp shows it"
kubectl --kubeconfig "$service" -n "${below%%/*}" patch crontab "${below#*/}" \
  --subresource=status --type=merge -p '{"status":{"phase":"Running"}}'
for _ in $(seq 1 60); do
  phase=$(kubectl --kubeconfig "$consumer" get crontab hello-workshop -o jsonpath='{.status.phase}')
  [ "$phase" = Running ] && break
  sleep 1
done
[ "$phase" = Running ] || { echo "the status did not come back to kcp" >&2; exit 1; }
kubectl --kubeconfig "$consumer" get crontab hello-workshop

step "exercise 2: let alice list configmaps in root:orgs"
kcpenv can alice@example.com --verb list --resource configmaps || true
kcpenv grant alice@example.com --verb list --resource configmaps
kcpenv can alice@example.com --verb list --resource configmaps

step "done: kcpenv down (keeps data) or kcpenv down --purge (removes everything)"
