#!/usr/bin/env bash
# Ensure a Docker engine answers on this machine: install Debian's docker.io when
# no daemon binary exists, start dockerd when nothing answers, wait until it does.
# Used by .ci/run and by developers; safe to run when an engine already answers.
set -euo pipefail

log() { printf 'docker-engine: %s\n' "$*" >&2; }

if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  log "engine already answers ($(docker version --format '{{.Server.Version}}'))"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    log "dockerd is missing and we are not root: install docker.io (Debian) or Docker Engine yourself"
    exit 1
  fi
  log "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

log_file=${DOCKERD_LOG:-/var/log/dockerd.log}
log "starting dockerd (log: $log_file)"
# setsid: the daemon must outlive the shell (and CI step) that started it.
setsid dockerd >"$log_file" 2>&1 < /dev/null &

for _ in $(seq 1 120); do
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    log "engine up ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 0.5
done
log "dockerd did not answer within 60s; last lines of $log_file:"
tail -n 20 "$log_file" >&2 || true
exit 1
