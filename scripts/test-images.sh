#!/usr/bin/env bash
# Builds the small local image the Docker-tier tests use: busybox from Debian's
# busybox-static, laid out like a distroless :debug image (applets under /busybox, on
# PATH), FROM scratch so no registry is needed. Skips the build when the image exists.
set -euo pipefail

IMAGE=${KCPENV_TEST_IMAGE:-kcpenv.local/busybox:test}
log() { printf 'test-images: %s\n' "$*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE present"
  exit 0
fi
if [ ! -x /bin/busybox ]; then
  if [ "$(id -u)" != 0 ]; then
    log "need Debian's busybox-static (/bin/busybox); install it as root"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq busybox-static >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq busybox-static >/dev/null; }
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/busybox" "$ctx/root/bin" "$ctx/root/tmp" "$ctx/root/etc"
cp /bin/busybox "$ctx/root/busybox/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$ctx/root/busybox/$applet"
done
ln -sf /busybox/sh "$ctx/root/bin/sh"
chmod 1777 "$ctx/root/tmp"
printf 'root:x:0:0:root:/:/busybox/sh\nnonroot:x:65532:65532:nonroot:/:/busybox/sh\n' >"$ctx/root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/root/etc/group"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY root/ /
ENV PATH=/busybox
CMD ["/busybox/sh"]
DOCKERFILE
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$ctx" >/dev/null 2>&1
log "built $IMAGE"
