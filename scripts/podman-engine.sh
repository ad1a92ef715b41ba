#!/usr/bin/env bash
# Ensure Podman's Docker-compatible API answers on a socket, for the Podman test tier
# (tests/podman.rs): install Debian's podman when missing, start
# `podman system service` on $KCPENV_PODMAN_SOCK (default /run/kcpenv-podman.sock)
# when nothing answers there, and copy the busybox test image from Docker into
# Podman's store. Prints nothing on stdout; safe to run again.
#
# Some sandboxes refuse the rlimits Podman sets by default (runc: "error setting
# rlimit type 6/7: operation not permitted"). Only then, a drop-in
# /etc/containers/containers.conf.d/kcpenv-ulimits.conf sets nofile and nproc to
# 16384, which such machines accept.
set -euo pipefail

SOCK=${KCPENV_PODMAN_SOCK:-/run/kcpenv-podman.sock}
IMAGE=${KCPENV_TEST_IMAGE:-kcpenv.local/busybox:test}
log() { printf 'podman-engine: %s\n' "$*" >&2; }

if ! command -v podman >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { log "podman is missing: install Debian's podman (needs root)"; exit 1; }
  log "installing Debian's podman"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq podman >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq podman >/dev/null; }
fi

if ! podman image exists "$IMAGE"; then
  docker image inspect "$IMAGE" >/dev/null 2>&1 || { log "$IMAGE is missing in Docker: run scripts/test-images.sh first"; exit 1; }
  log "copying $IMAGE from Docker to Podman"
  docker save "$IMAGE" | podman load >/dev/null
fi

if ! out=$(podman run --rm "$IMAGE" /busybox/true 2>&1); then
  case $out in
    *"error setting rlimit"*)
      log "this machine refuses Podman's default rlimits; setting nofile/nproc to 16384 in /etc/containers/containers.conf.d/kcpenv-ulimits.conf"
      mkdir -p /etc/containers/containers.conf.d
      printf '[containers]\ndefault_ulimits = [\n  "nofile=16384:16384",\n  "nproc=16384:16384",\n]\n' \
        >/etc/containers/containers.conf.d/kcpenv-ulimits.conf
      # A running service read the old configuration.
      pkill -f "podman system service.*$SOCK" 2>/dev/null || true
      podman run --rm "$IMAGE" /busybox/true || { log "podman still cannot run a container"; exit 1; }
      ;;
    *) log "podman cannot run a container: $out"; exit 1 ;;
  esac
fi

ping() { curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }
# A service started by an older script from a directory since removed answers pings
# but cannot start containers (conmon: "Failed to get working directory").
for pid in $(pgrep -f "podman system service.*$SOCK" || true); do
  if readlink "/proc/$pid/cwd" 2>/dev/null | grep -q '(deleted)'; then
    log "restarting podman system service (its working directory was removed)"
    kill "$pid" 2>/dev/null || true
    sleep 0.5
  fi
done
if ping; then
  log "Podman API answers on $SOCK"
  exit 0
fi
rm -f "$SOCK"
log "starting podman system service on unix://$SOCK"
# From /: conmon needs the service's working directory to exist, and the caller's (a
# clone that may be removed later) need not.
(cd / && setsid podman system service --time=0 "unix://$SOCK" >/var/log/kcpenv-podman.log 2>&1 </dev/null &)
for _ in $(seq 1 60); do
  if ping; then
    log "Podman $(podman version --format '{{.Server.Version}}' 2>/dev/null || echo '?') answers on $SOCK"
    exit 0
  fi
  sleep 0.5
done
log "podman system service did not answer on $SOCK (log: /var/log/kcpenv-podman.log)"
exit 1
