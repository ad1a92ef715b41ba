#!/usr/bin/env bash
# Benchmarks kcpenv against `docker compose up --wait` on the same images, and against
# the critical-path floor; measures kcpenv's CLI latencies and peak memory; writes
# BENCHMARKS.md. Needs the images of scripts/e2e-images.sh (present: nothing is pulled).
#
#   bash scripts/bench.sh [--runs N] [--profiles "kcp oidc oidc-fga syncagent workshop"] [--out FILE]
#
# Per run and profile, alternating the contenders (kcpenv first on odd runs, compose
# first on even ones), each from nothing (down --purge / compose down -v):
#   kcpenv:  `kcpenv up -o json` until it returns (every component ready, bootstrap done);
#            its JSON events (t_ms) give the floor: kcp's own time from its container's
#            start to ready plus its bootstrap, plus the same for the sync agent that
#            must follow it (the critical path); and the per-step breakdown.
#   compose: the file `kcpenv export compose` writes, `docker compose up --wait`, then
#            until kcp's /readyz answers (compose's health checks can only check kcp's
#            port with the image's tools). Profiles with api-syncagent are not run
#            under compose: the agent needs kcpenv's bootstrap, which compose lacks.
# Then, on a ready environment of the last profile: no-op `up`, `status`,
# `kubeconfig --path` (11 times each), and `down`.
#
# Compose v2 (for --wait) is built from its Go module github.com/docker/compose/v5 at
# $KCPENV_COMPOSE_VERSION (default v5.6.0) into the e2e bin dir when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=5
PROFILES="kcp oidc oidc-fga syncagent workshop"
OUT=$ROOT/BENCHMARKS.md
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift ;;
    --profiles) PROFILES=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d'; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

log() { printf 'bench: %s\n' "$*" >&2; }
BIN_DIR=${KCPENV_E2E_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kcpenv-e2e/bin}
COMPOSE_VERSION=${KCPENV_COMPOSE_VERSION:-v5.6.0}
COMPOSE=$BIN_DIR/docker-compose
export KCPENV_IMAGE_MIRROR=${KCPENV_IMAGE_MIRROR:-kcpenv.local}
export PATH=$BIN_DIR:$PATH

build_compose() {
  if [ -x "$COMPOSE" ] && "$COMPOSE" version 2>/dev/null | grep -q "$COMPOSE_VERSION"; then return 0; fi
  log "building docker compose $COMPOSE_VERSION from github.com/docker/compose/v5"
  local w
  w=$(mktemp -d)
  (
    cd "$w"
    printf 'module local.build/compose\n\ngo 1.25\n\nrequire github.com/docker/compose/v5 %s\n' "$COMPOSE_VERSION" >go.mod
    GOTOOLCHAIN=local go get "github.com/docker/compose/v5/cmd@$COMPOSE_VERSION" >/dev/null 2>&1
    CGO_ENABLED=0 GOTOOLCHAIN=local nice -n 10 go build -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" \
      -o "$COMPOSE" github.com/docker/compose/v5/cmd
  )
  rm -rf "$w"
}

now_ms() { date +%s%3N; }

cd "$ROOT"
cargo build --release --locked -q
KCPENV=$ROOT/target/release/kcpenv
build_compose
HOME_DIR=$(mktemp -d)
export KCPENV_HOME=$HOME_DIR
DATA=$HOME_DIR/data
mkdir -p "$DATA"
trap 'for p in $PROFILES; do "$KCPENV" down --purge -n "bench-$p" >/dev/null 2>&1 || true; "$COMPOSE" -p "bench-compose-$p" -f "$DATA/compose-$p.yaml" down -v >/dev/null 2>&1 || true; done' EXIT

KCP_OFFSET=3000      # kcpenv's environments
COMPOSE_OFFSET=3100  # compose's, so the two never share a port

run_kcpenv() { # PROFILE RUN
  local p=$1 r=$2 t0 t1
  "$KCPENV" down --purge -n "bench-$p" >/dev/null 2>&1 || true
  t0=$(now_ms)
  /usr/bin/time -f '%M' -o "$DATA/rss-$p-$r" \
    "$KCPENV" up -p "$p" -n "bench-$p" --port-offset "$KCP_OFFSET" -o json \
    >"$DATA/result-$p-$r.json" 2>"$DATA/events-$p-$r.jsonl"
  t1=$(now_ms)
  echo "$((t1 - t0))" >"$DATA/kcpenv-$p-$r"
  # down (kept data), timed; then purge for the next run.
  t0=$(now_ms)
  "$KCPENV" down -n "bench-$p" >/dev/null 2>&1
  t1=$(now_ms)
  echo "$((t1 - t0))" >"$DATA/down-$p-$r"
  "$KCPENV" down --purge -n "bench-$p" >/dev/null 2>&1
}

run_compose() { # PROFILE RUN
  local p=$1 r=$2 f t0 t1 port
  f=$DATA/compose-$p.yaml
  case $p in *syncagent* | workshop) return 0 ;; esac
  "$KCPENV" export compose -p "$p" -n "bench-compose-$p" --port-offset "$COMPOSE_OFFSET" \
    -o "$f" --files-dir "$DATA/files-$p" >/dev/null
  "$COMPOSE" -p "bench-compose-$p" -f "$f" down -v >/dev/null 2>&1 || true
  port=$((6443 + COMPOSE_OFFSET))
  t0=$(now_ms)
  "$COMPOSE" -p "bench-compose-$p" -f "$f" up --wait --quiet-pull >/dev/null 2>"$DATA/compose-$p-$r.log"
  until curl -fsS -m 2 --cacert "$HOME_DIR/bench-compose-$p/pki/ca.crt" "https://localhost:$port/readyz" >/dev/null 2>&1; do
    sleep 0.1
  done
  t1=$(now_ms)
  echo "$((t1 - t0))" >"$DATA/compose-$p-$r"
  "$COMPOSE" -p "bench-compose-$p" -f "$f" down -v >/dev/null 2>&1
}

for r in $(seq 1 "$RUNS"); do
  for p in $PROFILES; do
    if [ $((r % 2)) = 1 ]; then run_kcpenv "$p" "$r"; run_compose "$p" "$r"
    else run_compose "$p" "$r"; run_kcpenv "$p" "$r"; fi
    log "run $r/$RUNS $p: kcpenv $(cat "$DATA/kcpenv-$p-$r") ms, compose $(cat "$DATA/compose-$p-$r" 2>/dev/null || echo -) ms"
  done
done

# CLI latencies on a ready environment of the last profile.
last=${PROFILES##* }
"$KCPENV" up -p "$last" -n "bench-$last" --port-offset "$KCP_OFFSET" >/dev/null 2>&1
cli() { # NAME CMD...
  local name=$1 t0 t1
  shift
  for _ in $(seq 1 11); do
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000)) >>"$DATA/cli-$name"
  done
}
cli noop-up "$KCPENV" up -p "$last" -n "bench-$last" --port-offset "$KCP_OFFSET"
cli status "$KCPENV" status -n "bench-$last"
cli kubeconfig-path "$KCPENV" kubeconfig --path -n "bench-$last"
/usr/bin/time -f '%M' -o "$DATA/rss-noop" "$KCPENV" up -p "$last" -n "bench-$last" --port-offset "$KCP_OFFSET" >/dev/null 2>&1
"$KCPENV" down --purge -n "bench-$last" >/dev/null 2>&1

machine=$(printf '%s; %s CPUs (%s); %s GiB RAM; kernel %s; Docker Engine %s; kcpenv %s (release build); Compose %s' \
  "$(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release)" "$(nproc)" \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" \
  "$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)" \
  "$(docker version --format '{{.Server.Version}}')" "$("$KCPENV" --version | awk '{print $2}')" "$COMPOSE_VERSION")
python3 "$ROOT/scripts/bench_report.py" "$DATA" "$RUNS" "$PROFILES" "$machine" >"$OUT"
log "wrote $OUT"
cat "$OUT"
