#!/usr/bin/env bash
# Build local Docker images that mirror the official upstream images, from the
# upstream Go modules (no container registry needed: only the Go module proxy,
# Debian packages and a Docker engine).
#
#   scripts/e2e-images.sh [--force] [--smoke] [component...]   build (default: all known)
#   scripts/e2e-images.sh --list                                 known components and their images
#   scripts/e2e-images.sh --print-bin-dir                        where host binaries are installed
#
# Versions come from images.yaml (`key: reference` lines). The local tag is the
# official reference with its registry host replaced by $KCPENV_IMAGE_MIRROR
# (default kcpenv.local): ghcr.io/kcp-dev/kcp:vX -> kcpenv.local/kcp-dev/kcp:vX.
# A component whose image exists is skipped unless --force. --smoke starts each
# image once and checks it answers (see smoke_<component>).
#
# Components: kcp (image + host tools, below), dex (ghcr.io/dexidp/dex mirror, alpine
# layout, sqlite3 via a static CGO build), openfga (openfga/openfga mirror, with
# grpc_health_probe), kubelogin (host binary only: $BIN_DIR/kubectl-oidc_login, i.e.
# `kubectl oidc-login`, at the tag of its images.yaml reference), syncagent
# (ghcr.io/kcp-dev/api-syncagent mirror), mcexample (host binary only:
# multicluster-provider's apiexport example controller). See each section.
#
# Component kcp also installs the host binaries the e2e tests use into the bin dir
# (put it first on PATH: kubectl finds the plugins there): kubectl (k8s.io/kubectl
# at the newest served patch of the Kubernetes minor kcp is built on) and kcp's
# kubectl plugins (kubectl-kcp, kubectl-ws, kubectl-create-workspace). Each is
# rebuilt when missing or when its stamp (.kubectl-for, .kcp-plugins-for: the kcp
# version it was built for) differs, independently of the image.
#
# Environment:
#   KCPENV_IMAGE_MIRROR   mirror prefix for local tags (default kcpenv.local)
#   KCPENV_IMAGES_FILE    images file (default <repo>/images.yaml)
#   KCPENV_E2E_CACHE      work dir for wrapper modules, logs, build output
#                         (default ${XDG_CACHE_HOME:-$HOME/.cache}/kcpenv-e2e)
#   KCPENV_E2E_BIN_DIR    host binaries (kubectl, kubectl plugins) (default $KCPENV_E2E_CACHE/bin)
#   KCPENV_KCP_BINARIES   kcp main packages put in the image
#                         (default "kcp kcp-front-proxy virtual-workspaces cache-server"; kcp is always built)
#   KCPENV_KCP_PLUGINS    module@version of the kcp kubectl plugins, e.g.
#                         github.com/kcp-dev/kcp/cli@v0.27.1 (default: searched, see the kcp section of this script)
#   KCPENV_KUBECTL_VERSION  kubectl release, e.g. v1.34.13 (default: see above)
#   KCPENV_GOTOOLCHAIN    GOTOOLCHAIN for go commands (default local)
#   KCPENV_DEX_MODULE_VERSION  Go module version of dex's release tag (default: a table
#                         in the dex section; the module has no /v2, so v2.x tags need a
#                         pseudo-version, e.g. v0.0.0-20260303133905-11d2eeb52b42 for v2.45.1)
#   KCPENV_DEX_CGO        1 (default): static CGO build with sqlite3 storage; 0: without
#   KCPENV_GRPC_HEALTH_PROBE_VERSION  grpc-health-probe for the openfga image
#                         (default: the one openfga's Dockerfile.goreleaser names, else v0.4.52)
#   KCPENV_SMOKE_PORT, KCPENV_SMOKE_DEX_PORT, KCPENV_SMOKE_OPENFGA_PORT
#                         host ports of the smoke containers (16443, 15556, 18080)
#
# Go's module and build caches stay in their default places, so a second run is
# quick. Builds run under `nice -n 10`.
#
# Adding a component: write build_<key> (and optionally smoke_<key>), add <key>
# to COMPONENTS, add `<key>: <reference>` to images.yaml.
set -euo pipefail

COMPONENTS=(kcp dex openfga kubelogin syncagent mcexample)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGES_FILE=${KCPENV_IMAGES_FILE:-$ROOT/images.yaml}
MIRROR=${KCPENV_IMAGE_MIRROR:-kcpenv.local}
CACHE=${KCPENV_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kcpenv-e2e}
BIN_DIR=${KCPENV_E2E_BIN_DIR:-$CACHE/bin}
export GOTOOLCHAIN=${KCPENV_GOTOOLCHAIN:-local}
export DOCKER_BUILDKIT=0 # the legacy builder is enough for FROM scratch + COPY

FORCE=0
SMOKE=0
SUMMARY=()

log() { printf 'e2e-images: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s; }

# ---------------------------------------------------------------------------
# images.yaml and image names

# image_ref KEY: the official reference pinned in images.yaml.
image_ref() {
  local ref
  [ -f "$IMAGES_FILE" ] || die "images file not found: $IMAGES_FILE"
  ref=$(sed -n -E "s/^$1:[[:space:]]*//p" "$IMAGES_FILE" | head -n1 |
    sed -E 's/[[:space:]]+#.*$//; s/^["'\'']//; s/["'\'']?[[:space:]]*$//')
  [ -n "$ref" ] || die "no '$1:' line in $IMAGES_FILE"
  printf '%s\n' "$ref"
}

# ref_tag REF: the tag (version) of a reference, without any @digest.
ref_tag() {
  local r=${1%%@*} last
  last=${r##*/}
  case $last in *:*) printf '%s\n' "${last##*:}" ;; *) die "reference without a tag: $1" ;; esac
}

# mirror_ref REF: REF with its registry host replaced by $MIRROR (digest dropped).
mirror_ref() {
  local r=${1%%@*} first=${1%%/*}
  case $first in
    *.* | *:* | localhost) r=${r#*/} ;;
  esac
  printf '%s/%s\n' "$MIRROR" "$r"
}

# component_target KEY: what a component builds (its local image, or host binary).
component_target() {
  case $1 in
    kubelogin) echo "$BIN_DIR/kubectl-oidc_login (host binary; version from the reference)" ;;
    mcexample) echo "$BIN_DIR/multicluster-apiexport-example (host binary; multicluster-provider's examples/apiexport at the version api-syncagent requires)" ;;
    *) mirror_ref "$(image_ref "$1")" ;;
  esac
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# note_built KEY T0 TEXT: logs "KEY: TEXT in Ns" and adds it to the summary (N since T0).
note_built() {
  local dt=$(($(now) - $2))
  log "$1: $3 in ${dt}s"
  SUMMARY+=("$1: $3, ${dt}s")
}

# skip_built KEY IMAGE: true (and noted in the summary) when IMAGE exists and --force
# was not given, so build_<key> can return early.
# RECIPE[key]: bumped when an image's recipe changes, so an image built by an older
# recipe is rebuilt (it is stored in the label io.kcpenv.e2e.recipe).
declare -A RECIPE=([openfga]=2)

recipe_label() { printf 'io.kcpenv.e2e.recipe="%s"' "${RECIPE[$1]:-}"; }

skip_built() {
  [ "$FORCE" = 0 ] && image_exists "$2" || return 1
  local have
  have=$(docker image inspect -f '{{index .Config.Labels "io.kcpenv.e2e.recipe"}}' "$2" 2>/dev/null || true)
  [ "$have" = "<no value>" ] && have=
  if [ "$have" != "${RECIPE[$1]:-}" ]; then
    log "$1: $2 was built by recipe ${have:-1}, this script has ${RECIPE[$1]:-1}: rebuilding"
    return 1
  fi
  log "$1: $2 exists (--force rebuilds)"
  SUMMARY+=("$1: skipped, $2 already exists")
}

# ---------------------------------------------------------------------------
# host prerequisites

APT_UPDATED=0
# ensure_pkg FILE PACKAGE: install Debian PACKAGE when FILE (path or command) is missing.
ensure_pkg() {
  local probe=$1 pkg=$2
  if [ "${probe#/}" != "$probe" ]; then [ -e "$probe" ] && return 0
  else command -v "$probe" >/dev/null 2>&1 && return 0; fi
  command -v apt-get >/dev/null 2>&1 || die "$probe is missing and apt-get is not available: install $pkg"
  [ "$(id -u)" = 0 ] || die "$probe is missing: install the Debian package $pkg (needs root)"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "installing Debian package $pkg"
  apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  if [ "${probe#/}" != "$probe" ]; then [ -e "$probe" ]; else command -v "$probe" >/dev/null; fi ||
    die "installing $pkg did not provide $probe"
}

ensure_docker() {
  if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    bash "$ROOT/scripts/docker-engine.sh"
  fi
}

ensure_go() {
  command -v go >/dev/null 2>&1 || die "go is not on PATH (Go 1.26 or newer is needed)"
}

# ---------------------------------------------------------------------------
# Go helpers

# go_download MOD@VER: download a module version (zip + go.mod, checked against
# the checksum database). Prints its `go mod download -json` output; fails when
# the proxy does not serve it.
go_download() {
  local out
  out=$(cd / && go mod download -json "$1" 2>/dev/null) || true
  if [ -z "$out" ] || printf '%s' "$out" | jq -e '.Error' >/dev/null 2>&1; then
    return 1
  fi
  printf '%s\n' "$out"
}

# copy_versioned_replaces UPSTREAM_GO_MOD: copy every non-local replace of an
# upstream go.mod into ./go.mod.
copy_versioned_replaces() {
  go mod edit -json "$1" |
    jq -r '.Replace[]? | select(.New.Version != null) | "-replace=\(.Old.Path)=\(.New.Path)@\(.New.Version)"' |
    xargs -r go mod edit
}

# local_replaces UPSTREAM_GO_MOD: "<old path> <local dir>" per local replace.
local_replaces() {
  go mod edit -json "$1" | jq -r '.Replace[]? | select(.New.Version == null) | "\(.Old.Path) \(.New.Path)"'
}

# missing_modules LOG: module versions the proxy refused, as seen in a go log.
missing_modules() {
  {
    grep -oE 'https?://[^ ]*/@v/[^ :]+\.(zip|mod|info)' "$1" |
      sed -E 's#^https?://[^/]+/##; s#/@v/#@#; s#\.(zip|mod|info)$##'
    grep -oE '/lookup/[^ :]+' "$1" | sed 's#^/lookup/##'
    grep -oE 'https?://[^ ]*/@v/list' "$1" | sed -E 's#^https?://[^/]+/##; s#/@v/list$# (its version list)#'
  } 2>/dev/null | sort -u || true
}

# run_logged LOG CMD...: run CMD with output appended to LOG; on failure show its tail.
run_logged() {
  local logf=$1; shift
  printf '\n$ %s\n' "$*" >>"$logf"
  if ! "$@" >>"$logf" 2>&1; then
    log "command failed: $*"
    log "last lines of $logf:"
    grep -v '^go: downloading' "$logf" | tail -n 25 >&2
    local miss
    miss=$(missing_modules "$logf")
    [ -z "$miss" ] || log "module versions the Go module proxy refused: $(tr "\n" " " <<<"$miss")"
    return 1
  fi
}

# last_command_error LOG: the first line of output of the last command in a
# run_logged LOG (skipping download notes and "# package" headers).
last_command_error() {
  awk '/^\$ / { first = ""; next } first == "" && NF && !/^go: downloading/ && !/^# / { first = $0 } END { print first }' "$1"
}

# version_ldflags GIT_VERSION [COMMIT [BUILD_DATE]]: -X flags that stamp the
# Kubernetes version packages (as `kubectl version` / `kcp --version` print them)
# plus -s -w. GIT_VERSION is vMAJOR.MINOR.PATCH[+suffix].
version_ldflags() {
  local gv=$1 commit=${2-} date=${3-} maj min p ld=""
  [[ $gv =~ ^v([0-9]+)\.([0-9]+)\. ]] || die "not a version: $gv"
  maj=${BASH_REMATCH[1]} min=${BASH_REMATCH[2]}
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X $p.gitVersion=$gv -X $p.gitMajor=$maj -X $p.gitMinor=$min"
    [ -z "$commit" ] || ld+=" -X $p.gitCommit=$commit -X $p.gitTreeState=clean"
    [ -z "$date" ] || ld+=" -X $p.buildDate=$date"
  done
  printf '%s -s -w\n' "$ld"
}

# module_origin DOWNLOAD_JSON: "<commit>|<commit time>" of a downloaded module
# version, from the proxy's info (empty fields when it has none).
module_origin() {
  printf '%s|%s\n' "$(jq -r '.Origin.Hash // "" | .[0:9]' <<<"$1")" \
    "$(jq -r '.Time // empty' <"$(jq -r .Info <<<"$1")" 2>/dev/null)"
}

# ---------------------------------------------------------------------------
# FROM-scratch root filesystems

# static_rootfs DIR: what gcr.io/distroless/static and cgr.dev/chainguard/static
# hold: CA bundle, passwd/group (root, nobody, nonroot 65532), nsswitch.conf,
# /tmp, zoneinfo (tzdata); no shell.
static_rootfs() {
  local d=$1
  ensure_pkg /etc/ssl/certs/ca-certificates.crt ca-certificates
  ensure_pkg /usr/share/zoneinfo/UTC tzdata
  mkdir -p "$d/etc/ssl/certs" "$d/tmp" "$d/root" "$d/usr/bin" "$d/usr/local/bin"
  chmod 1777 "$d/tmp"
  chmod 0700 "$d/root"
  cp /etc/ssl/certs/ca-certificates.crt "$d/etc/ssl/certs/ca-certificates.crt"
  cat >"$d/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$d/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
  printf 'hosts: files dns\n' >"$d/etc/nsswitch.conf"
  mkdir -p "$d/usr/share"
  cp -a /usr/share/zoneinfo "$d/usr/share/zoneinfo"
}

# busybox_into DIR SUBDIR: Debian's static busybox as DIR/SUBDIR/busybox with a
# symlink per applet next to it (SUBDIR busybox: distroless :debug; bin: alpine).
busybox_into() {
  local d=$1/$2 a
  ensure_pkg /bin/busybox busybox-static
  file_is_static /bin/busybox || die "/bin/busybox is not statically linked (install busybox-static)"
  mkdir -p "$d"
  cp /bin/busybox "$d/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$d/$a"
  done
}

# scratch_rootfs DIR: static_rootfs plus /busybox with applet symlinks (mirrors
# gcr.io/distroless/static:debug).
scratch_rootfs() {
  static_rootfs "$1"
  busybox_into "$1" busybox
}

# alpine_rootfs DIR: the parts of an alpine base image programs rely on: busybox
# in /bin (/bin/sh), CA bundle, passwd/group (root, nobody), /tmp, /root.
alpine_rootfs() {
  local d=$1
  ensure_pkg /etc/ssl/certs/ca-certificates.crt ca-certificates
  busybox_into "$d" bin
  mkdir -p "$d/etc/ssl/certs" "$d/tmp" "$d/root" "$d/home" "$d/sbin" "$d/usr/bin" "$d/usr/sbin" \
    "$d/usr/local/bin" "$d/var" "$d/run" "$d/srv"
  chmod 1777 "$d/tmp"
  chmod 0700 "$d/root"
  cp /etc/ssl/certs/ca-certificates.crt "$d/etc/ssl/certs/ca-certificates.crt"
  cat >"$d/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/:/sbin/nologin
EOF
  cat >"$d/etc/group" <<'EOF'
root:x:0:root
nogroup:x:65533:
nobody:x:65534:
EOF
}

file_is_static() {
  # A dynamic binary names its loader (PT_INTERP); a static one does not.
  ! grep -qa -- '/lib64/ld-linux\|/lib/ld-linux\|/lib/ld-musl' "$1"
}

# ---------------------------------------------------------------------------
# kcp (github.com/kcp-dev/kcp)
#
# A wrapper module requires kcp at the pinned tag, copies the versioned replaces of
# kcp's go.mod (k8s.io/* -> the kcp-dev/kubernetes fork) and points each local
# (staging) replace at its published module: same minor.patch, major from the path
# (apimachinery/v2 -> v2.N.P), else the staging subdirectory of kcp's tag commit by
# pseudo-version, else the nearest served patch release of the same minor (kcp
# v0.30.0: client-go v0.30.0 is not served, v0.30.1 has the same staging code).
# Binaries: CGO_ENABLED=0, version ldflags as kcp's Makefile.
# The kubectl plugins come from github.com/kcp-dev/cli (staging layout; before it,
# github.com/kcp-dev/kcp/cli) at the same version, else another served patch of the
# same minor (built against the same kcp staging modules), else the newest served
# release of the three previous minors (built with its own modules; kcp v0.30.0 ->
# github.com/kcp-dev/kcp/cli@v0.27.1, as no cli v0.28-v0.30 is served), or
# $KCPENV_KCP_PLUGINS.
# Known gaps (2026-12): the module proxy here serves kcp v0.27.1, v0.28.0, v0.28.1
# and v0.30.0 but no other v0.28-v0.30 release, and no version of
# github.com/kcp-dev/virtual-workspace-framework, which kcp >= v0.31 imports, so
# those versions stop at `go get` with a message naming it.

KCP_MOD=github.com/kcp-dev/kcp

# kcp_staging_candidates OLD_PATH LOCAL_DIR KCP_VERSION [PSEUDO_SUFFIX]: module
# versions that can stand for a local replace of kcp's go.mod, best first: the
# same version as kcp, the staging code at kcp's tag commit (pseudo-version), then
# the nearest other patch releases of the same minor (kcp's staging code rarely
# changes within a minor; `go build` catches an API difference).
kcp_staging_candidates() {
  local old=$1 dir=${2#./} kv=$3 pseudo=${4-} major=0 sub mod ver d
  if [[ $old =~ /v([0-9]+)$ ]]; then major=${BASH_REMATCH[1]}; fi
  case $old in
    "$KCP_MOD"/*)
      # Nested module of the kcp repo (old layout, e.g. github.com/kcp-dev/kcp/sdk,
      # tagged sdk/vX): same version as kcp, else the tag commit.
      mod=$old ver=$kv
      echo "$old@$kv"
      [ -z "$pseudo" ] || echo "$old@v$major.0.0-$pseudo"
      ;;
    *)
      # Staging module published by kcp's publishing-bot: same minor.patch as kcp,
      # major from the module path (apimachinery/v2 -> v2.N.P).
      mod=$old ver=v$major.${kv#v0.}
      echo "$mod@$ver"
      sub="$KCP_MOD/$dir"
      [ "$major" -lt 2 ] || sub="$sub/v$major"
      [ -z "$pseudo" ] || echo "$sub@v$major.0.0-$pseudo"
      ;;
  esac
  if [[ $ver =~ ^(v[0-9]+\.[0-9]+)\.([0-9]+)$ ]]; then
    for d in 1 2 3; do
      echo "$mod@${BASH_REMATCH[1]}.$((BASH_REMATCH[2] + d))"
      [ $((BASH_REMATCH[2] - d)) -lt 0 ] || echo "$mod@${BASH_REMATCH[1]}.$((BASH_REMATCH[2] - d))"
    done
  fi
}

# kcp_resolve_staging KCP_GO_MOD KCP_VERSION PSEUDO_SUFFIX: prints one go mod
# edit -replace flag per local replace of kcp's go.mod.
kcp_resolve_staging() {
  local gomod=$1 kv=$2 pseudo=${3-} old dir cand first chosen
  while read -r old dir; do
    [ -n "$old" ] || continue
    first="" chosen=""
    for cand in $(kcp_staging_candidates "$old" "$dir" "$kv" "$pseudo"); do
      [ -n "$first" ] || first=$cand
      if go_download "$cand" >/dev/null; then chosen=$cand; break; fi
    done
    if [ -z "$chosen" ]; then
      # Not served; keep the published version: harmless when no binary imports
      # it (e.g. code-generator), otherwise `go get` names it below.
      log "  $old: not served by the module proxy ($(kcp_staging_candidates "$old" "$dir" "$kv" "$pseudo" | tr '\n' ' '))"
      chosen=$first
    elif [ "$chosen" != "$first" ]; then
      log "  $old: $first is not served by the module proxy; using $chosen"
    fi
    echo "-replace=$old=$chosen"
  done < <(local_replaces "$gomod")
}

# kcp_cli_module KCP_GO_MOD: module holding the kubectl plugins for this kcp.
kcp_cli_module() {
  if local_replaces "$1" | grep -q "^$KCP_MOD/sdk "; then
    echo "$KCP_MOD/cli" # before the staging repos: nested module in the kcp repo
  else
    echo github.com/kcp-dev/cli
  fi
}

# kcp_plugin_candidates CLI_MOD KCP_VERSION: module@version of the kubectl
# plugins to try, best first: $KCPENV_KCP_PLUGINS alone when set; else the same
# version, the other patch releases of the same minor (older first), then the
# three previous minors (newest patch first; both module layouts).
kcp_plugin_candidates() {
  local cli=$1 kv=$2 other=github.com/kcp-dev/cli mj mn pt m p d
  if [ -n "${KCPENV_KCP_PLUGINS-}" ]; then echo "$KCPENV_KCP_PLUGINS"; return 0; fi
  [ "$cli" != "$other" ] || other=$KCP_MOD/cli
  echo "$cli@$kv"
  [[ $kv =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || return 0
  mj=${BASH_REMATCH[1]} mn=${BASH_REMATCH[2]} pt=${BASH_REMATCH[3]}
  for ((p = pt - 1; p >= 0; p--)); do echo "$cli@v$mj.$mn.$p"; done
  for d in 1 2 3; do echo "$cli@v$mj.$mn.$((pt + d))"; done
  for ((m = mn - 1; m >= mn - 3 && m >= 0; m--)); do
    for ((p = 3; p >= 0; p--)); do echo "$cli@v$mj.$m.$p" "$other@v$mj.$m.$p"; done
  done | tr ' ' '\n'
}

# kcp_build_plugins CLI_MOD KCP_VERSION STAGING_REPLACES_FILE KUBE_VERSION OUT LOG
# Builds the kubectl plugins into OUT; sets CLI_MODULE and CLI_VERSION. Plugins of
# the same minor are built against the kcp build's staging modules; plugins of
# another minor against their own release's modules.
kcp_build_plugins() {
  local cli=$1 kv=$2 staging=$3 kubever=$4 out=$5 logf=$6
  local cand="" c w dl="" dir pkgs=() tried=() ld oh ot
  for c in $(kcp_plugin_candidates "$cli" "$kv"); do
    tried+=("$c")
    if dl=$(go_download "$c"); then cand=$c; break; fi
  done
  [ -n "$cand" ] || die "kcp kubectl plugins: none of these module versions is served by the Go module proxy: ${tried[*]} (set KCPENV_KCP_PLUGINS=module@version to pick one)"
  CLI_MODULE=${cand%@*} CLI_VERSION=${cand##*@}
  [ "$cand" = "$cli@$kv" ] || log "  $cli@$kv is not served by the Go module proxy; using the plugins of $cand"
  if [ "${CLI_VERSION%.*}" != "${kv%.*}" ]; then
    # Another minor: its own staging modules (e.g. ../sdk -> kcp/sdk@<its version>).
    staging=$CACHE/work/kcp-cli-staging-$CLI_VERSION
    kcp_resolve_staging "$(jq -r .GoMod <<<"$dl")" "$CLI_VERSION" >"$staging"
    # ... and its own Kubernetes version (client-go v0.X.Y -> v1.X.Y) in the stamp.
    c=$(go mod edit -json "$(jq -r .GoMod <<<"$dl")" |
      jq -r '.Require[] | select(.Path == "k8s.io/client-go") | .Version' | sed -E 's/^v0\./v1./; s/[-+].*//')
    [ -z "$c" ] || kubever=$c
  fi
  cli=$CLI_MODULE cand=$CLI_VERSION
  # Stamp the version of the code actually built (as kcp's Makefile: kube+kcp version).
  IFS='|' read -r oh ot <<<"$(module_origin "$dl")"
  ld=$(version_ldflags "$kubever+kcp-$cand" "$oh" "$ot")
  dir=$(jq -r .Dir <<<"$dl")
  w=$CACHE/work/kcp-cli-$cand-for-$kv
  mkdir -p "$w"
  for c in kubectl-kcp kubectl-ws kubectl-create-workspace; do
    if [ -d "$dir/cmd/$c" ]; then pkgs+=("$cli/cmd/$c"); else log "  $cli@$cand has no cmd/$c"; fi
  done
  [ ${#pkgs[@]} -gt 0 ] || die "$cli@$cand has no kubectl plugin commands"
  (
    cd "$w"
    printf 'module local.build/kcp-cli\n\ngo %s\n\nrequire %s %s\n' \
      "$(go mod edit -json "$dir/go.mod" | jq -r .Go)" "$cli" "$cand" >go.mod
    copy_versioned_replaces "$dir/go.mod"
    # kcp's staging modules at the versions the kcp build uses (another minor: the
    # plugins' own): they stand for the cli's local replaces (old layout: ../sdk),
    # and a plugin release may require versions the proxy does not serve (cli
    # v0.32.0 -> client-go v0.32.0).
    grep -v -- 'code-generator\|virtual-workspace-framework' "$staging" | xargs -r go mod edit
    cp "$dir/go.sum" go.sum && chmod u+w go.sum
    log "  go get ${pkgs[*]##*/} (log: $logf)"
    run_logged "$logf" go get "${pkgs[@]/%/@$cand}" ||
      die "the kcp kubectl plugins ($cli@$cand) cannot be built from the Go module proxy"
    mkdir -p "$out"
    log "  go build ${pkgs[*]##*/} (CGO_ENABLED=0, nice -n 10)"
    CGO_ENABLED=0 run_logged "$logf" nice -n 10 go build -ldflags "$ld" -o "$out/" "${pkgs[@]}" ||
      die "go build of the kcp kubectl plugins failed"
  )
}

# kubectl (k8s.io/kubectl), the host binary the e2e tests drive kcp with
#
# A wrapper module with upstream's main (cmd.NewDefaultKubectlCommand run by
# component-base's cli.RunNoErrOutput, client-go's auth plugins linked in), all
# k8s.io modules at one release, version ldflags as upstream. The release is
# $KCPENV_KUBECTL_VERSION (v1.X.Y or v0.X.Y), else the newest served patch of the
# Kubernetes minor that kcp is built on (kubectl's version skew policy is +-1 minor).

# kubectl_candidates KUBE_VERSION: k8s.io/kubectl versions to try, best first.
kubectl_candidates() {
  local want=${KCPENV_KUBECTL_VERSION-} minor
  if [ -n "$want" ]; then
    want=v${want#v}
    echo "v0.${want#v[01].}"
    return 0
  fi
  [[ $1 =~ ^v1\.([0-9]+)\.([0-9]+) ]] || die "kubectl: cannot tell the Kubernetes minor of '$1'"
  minor=${BASH_REMATCH[1]}
  {
    (cd / && go list -m -versions k8s.io/kubectl 2>/dev/null) | tr ' ' '\n' |
      grep -E "^v0\.$minor\.[0-9]+$" | sort -V -r | head -n 4
    echo "v0.$minor.${BASH_REMATCH[2]}"
  } | awk '!seen[$0]++'
}

# kcp_build_kubectl KUBE_VERSION STAMP LOG: builds and installs $BIN_DIR/kubectl;
# sets KUBECTL_VERSION.
kcp_build_kubectl() {
  local kubever=$1 stamp=$2 logf=$3 v m ok="" tried=() w ld oh ot dl
  for v in $(kubectl_candidates "$kubever"); do
    tried+=("$v")
    ok=$v
    for m in k8s.io/kubectl k8s.io/client-go k8s.io/component-base; do
      dl=$(go_download "$m@$v") || { ok=""; break; }
      [ "$m" != k8s.io/kubectl ] || IFS='|' read -r oh ot <<<"$(module_origin "$dl")"
    done
    [ -z "$ok" ] || break
  done
  [ -n "$ok" ] || die "kubectl: k8s.io/kubectl, client-go and component-base are not all served by the Go module proxy at ${tried[*]} (set KCPENV_KUBECTL_VERSION to a served release)"
  KUBECTL_VERSION=$ok
  ld=$(version_ldflags "v1.${ok#v0.}" "" "$ot")
  w=$CACHE/work/kubectl-$ok
  rm -rf "$w"
  mkdir -p "$w"
  (
    cd "$w"
    printf 'module local.build/kubectl\n\ngo %s\n' \
      "$(go mod edit -json "$(go_download "k8s.io/kubectl@$ok" | jq -r .GoMod)" | jq -r .Go)" >go.mod
    cat >main.go <<'EOF_GO'
// kubectl as upstream's k8s.io/kubernetes/cmd/kubectl builds it.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Import to initialize client auth plugins.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		// Pretty-print the error and exit with an error.
		util.CheckErr(err)
	}
}
EOF_GO
    log "  go get k8s.io/kubectl@$ok (log: $logf)"
    run_logged "$logf" go get "k8s.io/kubectl/pkg/cmd@$ok" "k8s.io/component-base/cli@$ok" \
      "k8s.io/client-go/plugin/pkg/client/auth@$ok" ||
      die "kubectl $ok cannot be built from the Go module proxy (see the refused modules above; KCPENV_KUBECTL_VERSION picks another release)"
    # All k8s.io modules at the one release (go get may have raised none; check).
    if go list -m all 2>/dev/null | awk '$1 ~ /^k8s\.io\/(api|apimachinery|client-go|cli-runtime|component-base|component-helpers|metrics|kubectl)$/ && $2 != "'"$ok"'"' | grep -q .; then
      log "  note: k8s.io modules not at $ok: $(go list -m all | awk '$1 ~ /^k8s\.io\// {print $1"@"$2}' | grep -v "@$ok\$" | tr '\n' ' ')"
    fi
    log "  go build kubectl (CGO_ENABLED=0, nice -n 10)"
    CGO_ENABLED=0 run_logged "$logf" nice -n 10 go build -ldflags "$ld" -o "$w/kubectl" . ||
      die "go build of kubectl $ok failed"
  )
  mkdir -p "$BIN_DIR"
  install -m 0755 "$w/kubectl" "$BIN_DIR/kubectl"
  rm -f "$w/kubectl"
  "$BIN_DIR/kubectl" version --client >/dev/null || die "$BIN_DIR/kubectl does not run"
  echo "$stamp" >"$BIN_DIR/.kubectl-for"
}

build_kcp() {
  local ref kv img t0 t1 w out ctx logf info up hash commit_time pseudo kubever ld b old_id
  local bins=() need_image=1 need_plugins=1 need_kubectl=1 kubectl_stamp cli what=""
  ref=$(image_ref kcp)
  kv=$(ref_tag "$ref")
  img=$(mirror_ref "$ref")
  t0=$(now)
  # kubectl's stamp: what it was built for (kcp's version, or the release asked for).
  kubectl_stamp="for kcp $kv${KCPENV_KUBECTL_VERSION:+, k8s.io/kubectl ${KCPENV_KUBECTL_VERSION}}"
  if [ "$FORCE" = 0 ]; then
    if image_exists "$img"; then need_image=0; fi
    if [ -x "$BIN_DIR/kubectl-kcp" ] && [ "$(cat "$BIN_DIR/.kcp-plugins-for" 2>/dev/null)" = "$kv" ]; then
      need_plugins=0
    fi
    if [ -x "$BIN_DIR/kubectl" ] && [ "$(cat "$BIN_DIR/.kubectl-for" 2>/dev/null)" = "$kubectl_stamp" ]; then
      need_kubectl=0
    fi
  fi
  if [ "$need_image$need_plugins$need_kubectl" = 000 ]; then
    log "kcp: $img exists, kubectl and plugins for $kv in $BIN_DIR (--force rebuilds)"
    SUMMARY+=("kcp: skipped, $img already exists")
    return 0
  fi
  ensure_go
  ensure_pkg jq jq
  [ "$need_image" = 0 ] || what+=", image $img"
  [ "$need_image$need_plugins" = 00 ] || what+=", plugins in $BIN_DIR"
  what=${what#, }
  if [ "$need_kubectl" = 1 ]; then
    log "kcp: building ${what:+$what, }kubectl in $BIN_DIR for $KCP_MOD@$kv"
  else
    log "kcp: building $what from $KCP_MOD@$kv"
  fi
  mkdir -p "$CACHE/logs"
  logf=$CACHE/logs/kcp-$kv.log
  : >"$logf"

  info=$(go_download "$KCP_MOD@$kv") || die "$KCP_MOD@$kv is not served by the Go module proxy"
  up=$(jq -r .Dir <<<"$info")
  hash=$(jq -r '.Origin.Hash // empty' <<<"$info")
  commit_time=$(jq -r '.Time // empty' <"$(jq -r .Info <<<"$info")")
  if [ -z "$hash" ] || [ -z "$commit_time" ]; then
    die "no commit hash/time in the proxy's info for $KCP_MOD@$kv"
  fi
  pseudo=$(date -u -d "$commit_time" +%Y%m%d%H%M%S)-${hash:0:12}
  kubever=$(go mod edit -json "$up/go.mod" | jq -r '.Require[] | select(.Path == "k8s.io/kubernetes") | .Version')

  if [ "$need_kubectl" = 1 ]; then
    t1=$(now)
    KUBECTL_VERSION=
    kcp_build_kubectl "$kubever" "$kubectl_stamp" "$logf"
    log "kubectl: built $BIN_DIR/kubectl from k8s.io/kubectl@$KUBECTL_VERSION in $(($(now) - t1))s"
    SUMMARY+=("kubectl: built $BIN_DIR/kubectl from k8s.io/kubectl@$KUBECTL_VERSION, $(($(now) - t1))s")
    t0=$(now) # the kcp line below times the image and plugins only
  fi
  if [ "$need_image$need_plugins" = 00 ]; then
    SUMMARY+=("kcp: skipped, $img and plugins already there")
    return 0
  fi

  # Version stamping as kcp's Makefile does (git describe at the tag = kcp version);
  # buildDate is the tag's commit time so that rebuilds hit Go's build cache.
  ld=$(version_ldflags "$kubever+kcp-$kv" "${hash:0:9}" "$commit_time")

  w=$CACHE/work/kcp-$kv
  out=$CACHE/out/kcp-$kv
  rm -rf "$out"
  mkdir -p "$w" "$out/bin"
  local staging=$w/staging-replaces
  log "  resolving the local (staging) replaces of kcp's go.mod"
  kcp_resolve_staging "$up/go.mod" "$kv" "$pseudo" >"$staging"
  sed 's/^-replace=/    /' "$staging" >&2

  # kubectl plugins: needed on the host and in the image.
  cli=$(kcp_cli_module "$up/go.mod")
  CLI_MODULE='' CLI_VERSION=''
  kcp_build_plugins "$cli" "$kv" "$staging" "$kubever" "$out/plugins" "$logf"
  mkdir -p "$BIN_DIR"
  for b in "$out"/plugins/*; do install -m 0755 "$b" "$BIN_DIR/"; done
  echo "$kv" >"$BIN_DIR/.kcp-plugins-for"
  "$BIN_DIR/kubectl-ws" --help >/dev/null || die "$BIN_DIR/kubectl-ws does not run"

  if [ "$need_image" = 1 ]; then
    for b in kcp ${KCPENV_KCP_BINARIES:-kcp-front-proxy virtual-workspaces cache-server}; do
      case " ${bins[*]-} " in *" $KCP_MOD/cmd/$b "*) continue ;; esac
      [ -d "$up/cmd/$b" ] || die "$KCP_MOD@$kv has no cmd/$b"
      bins+=("$KCP_MOD/cmd/$b")
    done
    # Wrapper module: kcp's go.mod has replace directives, so `go install` is refused.
    (
      cd "$w"
      printf 'module local.build/kcp\n\ngo %s\n\nrequire %s %s\n' \
        "$(go mod edit -json "$up/go.mod" | jq -r .Go)" "$KCP_MOD" "$kv" >go.mod
      copy_versioned_replaces "$up/go.mod" # k8s.io/* -> github.com/kcp-dev/kubernetes fork
      xargs -r go mod edit <"$staging"
      cp "$up/go.sum" go.sum && chmod u+w go.sum # upstream-verified checksums
      log "  go get ${bins[*]##*/} (log: $logf)"
      run_logged "$logf" go get "${bins[@]/%/@$kv}" ||
        die "kcp $kv cannot be built from the Go module proxy (see the refused modules above)"
      log "  go build ${bins[*]##*/} (CGO_ENABLED=0, nice -n 10)"
      CGO_ENABLED=0 run_logged "$logf" nice -n 10 go build -ldflags "$ld -extldflags '-static'" -o "$out/bin/" "${bins[@]}" ||
        die "go build of kcp failed"
    )

    # Image context: a distroless static:debug-like rootfs plus kcp's layout.
    ctx=$CACHE/ctx/kcp-$kv
    rm -rf "$ctx"
    mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/usr/bin" "$ctx/empty-dir"
    scratch_rootfs "$ctx/rootfs"
    for b in "$out"/bin/*; do install -m 0755 "$b" "$ctx/rootfs/"; done
    for b in "$out"/plugins/*; do install -m 0755 "$b" "$ctx/rootfs/usr/local/bin/"; done
    ln -s /busybox/wget "$ctx/rootfs/usr/bin/wget" # upstream ships wget at /usr/bin for health checks
    {
      echo 'FROM scratch'
      echo 'COPY rootfs/ /'
      echo 'COPY --chown=65532:65532 empty-dir/ /.kcp/'
      echo 'COPY --chown=65532:65532 empty-dir/ /home/nonroot/'
      echo 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
      echo 'WORKDIR /'
      echo 'ENV KUBECONFIG=/etc/kcp/config/admin.kubeconfig'
      echo "LABEL org.opencontainers.image.source=\"https://github.com/kcp-dev/kcp\" org.opencontainers.image.version=\"$kv\" org.opencontainers.image.revision=\"$hash\" io.kcpenv.e2e.mirror-of=\"$ref\" io.kcpenv.e2e.modules=\"$KCP_MOD@$kv $CLI_MODULE@$CLI_VERSION\""
      echo 'USER 65532:65532'
      echo 'ENTRYPOINT ["/kcp"]'
      echo 'CMD ["start"]'
    } >"$ctx/Dockerfile"
    ensure_docker
    log "  docker build -t $img"
    old_id=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
    run_logged "$logf" docker build -t "$img" "$ctx" || die "docker build failed"
    rm -rf "$ctx"
    # A --force rebuild leaves the previous image untagged: drop it unless in use.
    if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$img")" ]; then
      docker image rm "$old_id" >/dev/null 2>&1 || true
    fi
  fi

  rm -rf "$out" # the binaries now live in the image and in $BIN_DIR
  local dt=$(($(now) - t0))
  log "kcp: built $what from $KCP_MOD@$kv + $CLI_MODULE@$CLI_VERSION in ${dt}s"
  SUMMARY+=("kcp: built $what from $KCP_MOD@$kv + $CLI_MODULE@$CLI_VERSION, ${dt}s")
}

# smoke_kcp: start the image, wait for /readyz, check the user and busybox.
smoke_kcp() {
  local img name port=${KCPENV_SMOKE_PORT:-16443} t0 i uid dt
  img=$(mirror_ref "$(image_ref kcp)")
  name=kcpenv-e2e-smoke-kcp-$$
  ensure_docker
  ensure_pkg curl curl
  trap 'docker rm -f "'"$name"'" >/dev/null 2>&1 || true' EXIT
  t0=$(now)
  docker run -d --name "$name" -p "127.0.0.1:$port:6443" "$img" start --bind-address=0.0.0.0 >/dev/null
  for ((i = 0; i < 240; i++)); do
    if [ "$(curl -sk -m 2 "https://127.0.0.1:$port/readyz" 2>/dev/null)" = ok ]; then break; fi
    if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
      docker logs --tail 30 "$name" >&2 || true
      die "kcp smoke: container exited"
    fi
    sleep 0.5
  done
  dt=$(($(now) - t0))
  if [ "$(curl -sk -m 2 "https://127.0.0.1:$port/readyz" 2>/dev/null)" != ok ]; then
    docker logs --tail 30 "$name" >&2 || true
    die "kcp smoke: /readyz not ok after ${dt}s"
  fi
  uid=$(docker exec "$name" /busybox/id -u)
  [ "$uid" = 65532 ] || die "kcp smoke: runs as uid $uid, want 65532"
  [ "$(docker exec "$name" /busybox/sh -c 'echo hi')" = hi ] || die "kcp smoke: /busybox/sh does not work"
  docker rm -f "$name" >/dev/null
  trap - EXIT
  log "kcp smoke: $img ready in ${dt}s, uid $uid, busybox sh ok"
  SUMMARY+=("kcp smoke: ok (${dt}s to /readyz)")
}

# ---------------------------------------------------------------------------
# helpers shared by the image components below

# require_module MOD@VER WHAT: like go_download, but dies naming MOD@VER and the
# proxy's answer when it is not served.
require_module() {
  local out err
  out=$(cd / && go mod download -json "$1" 2>/dev/null) || true
  err=$(jq -r '.Error // empty' <<<"$out" 2>/dev/null | head -n 3 | tr '\n' ' ')
  if [ -z "$out" ] || [ -n "$err" ]; then
    die "$2: $1 is not served by the Go module proxy${err:+ ($err)}"
  fi
  printf '%s\n' "$out"
}

# build_image IMG CTX LOG: docker build CTX (its Dockerfile) as IMG; a --force
# rebuild drops the image it replaces unless in use.
build_image() {
  local img=$1 ctx=$2 logf=$3 old_id
  ensure_docker
  log "  docker build -t $img"
  old_id=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
  run_logged "$logf" docker build -t "$img" "$ctx" || die "docker build of $img failed"
  rm -rf "$ctx"
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$img")" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
}

# image_size IMG: the image's size, e.g. 48MB.
image_size() {
  docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.0fMB\n", $1 / 1000000 }'
}

# smoke_wait NAME URL [SECONDS]: wait until URL answers 2xx while container NAME runs.
smoke_wait() {
  local name=$1 url=$2 secs=${3:-60} i
  for ((i = 0; i < secs * 2; i++)); do
    if curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null; then return 0; fi
    if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
      docker logs --tail 30 "$name" >&2 || true
      die "$name: container exited before $url answered"
    fi
    sleep 0.5
  done
  docker logs --tail 30 "$name" >&2 || true
  die "$name: $url did not answer within ${secs}s"
}

# ---------------------------------------------------------------------------
# dex (github.com/dexidp/dex), mirror of ghcr.io/dexidp/dex:<tag> (alpine variant)
#
# Dex's module path has no /v2, so its v2.x tags are not Go module versions: the
# module is required at the tag commit's pseudo-version (dex_module_version; set
# KCPENV_DEX_MODULE_VERSION for a release not in that table). Dex's go.mod only
# replaces github.com/dexidp/dex/api/v2 with ./api/v2; the wrapper lets the
# published api/v2 release it requires resolve instead (same code).
# dex is linked statically with CGO_ENABLED=1 so that it has the sqlite3 storage
# (mattn/go-sqlite3), as the official musl build: glibc, tags netgo,osusergo (Go's
# resolver and user lookup, no NSS) and sqlite_omit_load_extension (no dlopen).
# Without a C toolchain (or KCPENV_DEX_CGO=0) it falls back to CGO_ENABLED=0: no
# sqlite3 storage; the image label io.kcpenv.e2e.dex-sqlite3 says which.
# gomplate (the official image's /usr/local/bin/gomplate v5.0.0, which
# docker-entrypoint runs on every .yaml/.tpl/.tmpl argument of `dex serve`) is not
# served by the Go module proxy (v5.0.0 refused; v4.3.3 needs inet.af/netaddr,
# refused), so /usr/local/bin/gomplate is a busybox sh stand-in: it passes a config
# without template actions through unchanged (what gomplate does with it) and
# fails, saying why, on one that has them (e.g. the default
# /etc/dex/config.docker.yaml: pass your own config or run `dex serve` directly).

DEX_MOD=github.com/dexidp/dex

# dex_module_version TAG: the Go module version of a dex release tag.
dex_module_version() {
  if [ -n "${KCPENV_DEX_MODULE_VERSION-}" ]; then echo "$KCPENV_DEX_MODULE_VERSION"; return 0; fi
  case $1 in
    v2.45.1) echo v0.0.0-20260303133905-11d2eeb52b42 ;; # commit 11d2eeb52b42, 2026-03-03T13:39:05Z
    *) return 1 ;;
  esac
}

# dex_gomplate_standin: the /usr/local/bin/gomplate stand-in (see above).
dex_gomplate_standin() {
  cat <<'EOF_SH'
#!/bin/sh
# Stand-in for gomplate (https://github.com/hairyhenderson/gomplate) in a local
# mirror of the dex image (kcpenv scripts/e2e-images.sh): real gomplate cannot be
# built from the Go module proxy there. Supports what docker-entrypoint runs,
# `gomplate -f IN -o OUT`, for input without template actions, which gomplate
# copies unchanged; fails on input that has some.
in='' out=''
while [ $# -gt 0 ]; do
  case $1 in
    -f | --file) in=$2; shift ;;
    -o | --out) out=$2; shift ;;
    *) echo "gomplate (stand-in): unsupported argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$in" ] || [ -z "$out" ]; then echo "gomplate (stand-in): usage: gomplate -f IN -o OUT" >&2; exit 2; fi
if grep -q '{{' "$in"; then
  echo "gomplate (stand-in): $in has gomplate template actions, which this local dex image cannot render (no real gomplate): pass a plain config, or run /usr/local/bin/dex directly" >&2
  exit 1
fi
cat "$in" >"$out"
EOF_SH
}

build_dex() {
  local ref tag img t0 mv info up api w out ctx logf ld cgo=${KCPENV_DEX_CGO:-1} sqlite=yes why="" libc
  ref=$(image_ref dex)
  tag=$(ref_tag "$ref")
  img=$(mirror_ref "$ref")
  t0=$(now)
  if skip_built dex "$img"; then return 0; fi
  ensure_go
  ensure_pkg jq jq
  mv=$(dex_module_version "$tag") ||
    die "dex $tag: its Go module version is not known (dex's module path has no /v2, so the tag is not a module version): set KCPENV_DEX_MODULE_VERSION to the pseudo-version of the tag's commit, v0.0.0-<commit time UTC, YYYYMMDDhhmmss>-<12 hex digits of the commit>"
  log "dex: building image $img from $DEX_MOD@$mv ($tag)"
  mkdir -p "$CACHE/logs"
  logf=$CACHE/logs/dex-$tag.log
  : >"$logf"
  info=$(require_module "$DEX_MOD@$mv" "dex $tag")
  up=$(jq -r .Dir <<<"$info")
  if [ ! -d "$up/cmd/dex" ] || [ ! -d "$up/web" ]; then die "$DEX_MOD@$mv has no cmd/dex or web/"; fi
  ld="-s -w -X main.version=$tag"

  w=$CACHE/work/dex-$tag
  out=$CACHE/out/dex-$tag
  rm -rf "$out"
  mkdir -p "$w" "$out"
  (
    cd "$w"
    printf 'module local.build/dex\n\ngo %s\n\nrequire %s %s\n' \
      "$(go mod edit -json "$up/go.mod" | jq -r .Go)" "$DEX_MOD" "$mv" >go.mod
    copy_versioned_replaces "$up/go.mod" # none at v2.45.1; the ./api/v2 one is left out
    cp "$up/go.sum" go.sum && chmod u+w go.sum
    log "  go get dex docker-entrypoint (log: $logf)"
    run_logged "$logf" go get "$DEX_MOD/cmd/dex@$mv" "$DEX_MOD/cmd/docker-entrypoint@$mv" ||
      die "dex $tag ($DEX_MOD@$mv) cannot be built from the Go module proxy (see the refused modules above)"
  )
  api=$(cd "$w" && { go list -m -f '{{.Path}}@{{.Version}}' "$DEX_MOD/api/v2" 2>/dev/null || true; })

  if [ "$cgo" = 1 ]; then
    # A C compiler and glibc's static libraries (libc.a).
    if ! (ensure_pkg gcc gcc && ensure_pkg /usr/include/stdio.h libc6-dev) 2>>"$logf"; then
      why="no C toolchain (gcc, libc6-dev) and it could not be installed"
    else
      libc=$(gcc -print-file-name=libc.a)
      if [ ! -e "$libc" ]; then why="gcc finds no static libc.a (install libc6-dev)"; fi
    fi
    if [ -z "$why" ]; then
      log "  go build dex (CGO_ENABLED=1, static, sqlite3; nice -n 10)"
      if ! (cd "$w" && CGO_ENABLED=1 run_logged "$logf" nice -n 10 go build \
        -tags netgo,osusergo,sqlite_omit_load_extension \
        -ldflags "$ld -linkmode external -extldflags '-static'" -o "$out/dex" "$DEX_MOD/cmd/dex"); then
        why="the static CGO build failed: $(last_command_error "$logf")"
      elif ! file_is_static "$out/dex"; then
        why="the CGO build is not statically linked"
      elif grep -q 'requires at runtime the shared libraries' "$logf"; then
        log "  warning: $(grep -m1 'requires at runtime the shared libraries' "$logf")"
      fi
    fi
  else
    why="KCPENV_DEX_CGO=$cgo"
  fi
  if [ -n "$why" ]; then
    sqlite="no ($why)"
    log "  dex without sqlite3 storage: $why; building with CGO_ENABLED=0"
    (cd "$w" && CGO_ENABLED=0 run_logged "$logf" nice -n 10 go build -ldflags "$ld" -o "$out/dex" "$DEX_MOD/cmd/dex") ||
      die "go build of dex failed"
  fi
  log "  go build docker-entrypoint (CGO_ENABLED=0)"
  (cd "$w" && CGO_ENABLED=0 run_logged "$logf" nice -n 10 go build -ldflags "$ld" -o "$out/docker-entrypoint" "$DEX_MOD/cmd/docker-entrypoint") ||
    die "go build of docker-entrypoint failed"

  # Image context: alpine-like rootfs plus the official image's layout.
  ctx=$CACHE/ctx/dex-$tag
  rm -rf "$ctx"
  mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/usr/local/src/dex/api/v2" "$ctx/dex-etc" "$ctx/dex-var"
  alpine_rootfs "$ctx/rootfs"
  # addgroup -g 1001 -S dex && adduser -u 1001 -S -G dex -D -H -s /sbin/nologin dex
  echo 'dex:x:1001:1001::/home/dex:/sbin/nologin' >>"$ctx/rootfs/etc/passwd"
  echo 'dex:x:1001:' >>"$ctx/rootfs/etc/group"
  install -m 0755 "$out/dex" "$out/docker-entrypoint" "$ctx/rootfs/usr/local/bin/"
  dex_gomplate_standin >"$ctx/rootfs/usr/local/bin/gomplate"
  chmod 0755 "$ctx/rootfs/usr/local/bin/gomplate"
  mkdir -p "$ctx/rootfs/srv/dex"
  cp -R "$up/web" "$ctx/rootfs/srv/dex/web"
  cp "$up/config.docker.yaml" "$ctx/dex-etc/"
  cp "$up/go.mod" "$up/go.sum" "$ctx/rootfs/usr/local/src/dex/"
  if [ -n "$api" ]; then
    info=$(go_download "$api" || true)
    [ -z "$info" ] || cp "$(jq -r .Dir <<<"$info")"/go.{mod,sum} "$ctx/rootfs/usr/local/src/dex/api/v2/" 2>/dev/null || true
  fi
  chmod -R u+w,go+rX "$ctx/rootfs" "$ctx/dex-etc"
  {
    echo 'FROM scratch'
    echo 'COPY rootfs/ /'
    echo 'COPY --chown=1001:1001 dex-var/ /var/dex/'
    echo 'COPY --chown=1001:1001 dex-etc/ /etc/dex/'
    echo 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    echo "LABEL org.opencontainers.image.source=\"https://github.com/dexidp/dex\" org.opencontainers.image.version=\"$tag\" io.kcpenv.e2e.mirror-of=\"$ref\" io.kcpenv.e2e.modules=\"$DEX_MOD@$mv${api:+ $api}\" io.kcpenv.e2e.dex-sqlite3=\"${sqlite%% *}\""
    echo 'USER dex:dex'
    echo 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint"]'
    echo 'CMD ["dex", "serve", "/etc/dex/config.docker.yaml"]'
  } >"$ctx/Dockerfile"
  build_image "$img" "$ctx" "$logf"
  rm -rf "$out"
  note_built dex "$t0" "built $img ($(image_size "$img"), sqlite3: $sqlite) from $DEX_MOD@$mv${api:+ + $api}"
}

# smoke_dex: dex serve (through docker-entrypoint) on a config with the password
# DB, a static password and client, sqlite3 storage when the image has it (else
# memory); checks healthz, discovery, a password grant, and with sqlite3 that the
# signing keys survive a container restart.
smoke_dex() {
  local img name port=${KCPENV_SMOKE_DEX_PORT:-15556} issuer t0 dt cfg storage kid1 kid2 tok uid hasdb what
  img=$(mirror_ref "$(image_ref dex)")
  name=kcpenv-e2e-smoke-dex-$$
  issuer=http://127.0.0.1:$port/dex
  ensure_docker
  ensure_pkg curl curl
  image_exists "$img" || die "dex smoke: $img does not exist (build it first)"
  if [ "$(docker image inspect -f '{{index .Config.Labels "io.kcpenv.e2e.dex-sqlite3"}}' "$img")" = yes ]; then
    storage='{type: sqlite3, config: {file: /var/dex/dex.db}}'
  else
    storage='{type: memory}'
  fi
  cfg=$(mktemp)
  chmod 0644 "$cfg" # docker cp keeps the mode; dex runs as uid 1001
  # The static password's hash is bcrypt("password"), as in dex's config.dev.yaml.
  cat >"$cfg" <<EOF
issuer: $issuer
storage: $storage
web:
  http: 0.0.0.0:$port
frontend:
  dir: /srv/dex/web
logger:
  level: info
oauth2:
  passwordConnector: local
enablePasswordDB: true
staticPasswords:
- email: admin@example.com
  hash: "\$2a\$10\$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
  username: admin
  userID: 08a8684b-db88-4b73-90a9-3cd1661f5466
staticClients:
- id: smoke
  secret: smoke-secret
  name: smoke
  redirectURIs: [http://127.0.0.1:$port/callback]
EOF
  trap 'docker rm -f "'"$name"'" >/dev/null 2>&1 || true; rm -f "'"$cfg"'"' EXIT
  t0=$(now)
  docker create --name "$name" -p "127.0.0.1:$port:$port" "$img" dex serve /etc/dex/smoke.yaml >/dev/null
  docker cp "$cfg" "$name:/etc/dex/smoke.yaml"
  docker start "$name" >/dev/null
  smoke_wait "$name" "$issuer/healthz"
  dt=$(($(now) - t0))
  curl -fsS -m 5 "$issuer/.well-known/openid-configuration" | jq -e --arg i "$issuer" '.issuer == $i' >/dev/null ||
    die "dex smoke: discovery document at $issuer/.well-known/openid-configuration is wrong"
  tok=$(curl -fsS -m 10 -u smoke:smoke-secret -d grant_type=password -d username=admin@example.com \
    -d password=password -d 'scope=openid email' "$issuer/token" | jq -r '.id_token // empty') || true
  [ -n "$tok" ] || die "dex smoke: password grant for admin@example.com returned no id_token"
  uid=$(docker exec "$name" id -u)
  [ "$uid" = 1001 ] || die "dex smoke: runs as uid $uid, want 1001"
  [ "$(docker exec "$name" sh -c 'echo hi')" = hi ] || die "dex smoke: /bin/sh does not work"
  docker exec "$name" test -f /srv/dex/web/templates/login.html || die "dex smoke: no /srv/dex/web/templates"
  what="healthz, discovery, password grant, uid $uid, sh"
  case $storage in
    *sqlite3*)
      kid1=$(curl -fsS -m 5 "$issuer/keys" | jq -r '.keys[0].kid')
      docker restart "$name" >/dev/null
      smoke_wait "$name" "$issuer/healthz"
      kid2=$(curl -fsS -m 5 "$issuer/keys" | jq -r '.keys[0].kid')
      hasdb=$(docker exec "$name" sh -c 'test -s /var/dex/dex.db && echo yes')
      if [ "$hasdb" != yes ] || [ -z "$kid1" ] || [ "$kid1" != "$kid2" ]; then
        die "dex smoke: sqlite3 storage did not survive a restart (db file: ${hasdb:-missing}, signing key $kid1 -> $kid2)"
      fi
      what+=", sqlite3 storage survives a restart"
      ;;
    *) what+=", memory storage (image without sqlite3)" ;;
  esac
  docker rm -f "$name" >/dev/null
  rm -f "$cfg"
  trap - EXIT
  log "dex smoke: $img ready in ${dt}s; $what"
  SUMMARY+=("dex smoke: ok (${dt}s to healthz; $what)")
}

# ---------------------------------------------------------------------------
# openfga (github.com/openfga/openfga), mirror of openfga/openfga:<tag>
#
# As the release image (Dockerfile.goreleaser): cgr.dev/chainguard/static base
# (static_rootfs, user nonroot 65532, no shell), /openfga, /assets (the module's
# assets/), /usr/local/bin/grpc_health_probe (github.com/grpc-ecosystem/grpc-health-probe,
# built as its .goreleaser.yml: -tags netgo, CGO_ENABLED=0), ENTRYPOINT ["/openfga"],
# no CMD. openfga is built as its .goreleaser.yaml does (-trimpath, CGO_ENABLED=0,
# build.Version/Commit/Date/ProjectName); its go.mod has no replaces, so plain
# `go install`. KCPENV_GRPC_HEALTH_PROBE_VERSION overrides the probe's version.

OPENFGA_MOD=github.com/openfga/openfga
GRPC_HEALTH_PROBE_MOD=github.com/grpc-ecosystem/grpc-health-probe
GRPC_HEALTH_PROBE_VERSION=${KCPENV_GRPC_HEALTH_PROBE_VERSION:-v0.4.52} # as in openfga v1.18.1's Dockerfile.goreleaser

build_openfga() {
  local ref tag img t0 info up hash date ld b out ctx logf probe pv
  ref=$(image_ref openfga)
  tag=$(ref_tag "$ref")
  img=$(mirror_ref "$ref")
  t0=$(now)
  if skip_built openfga "$img"; then return 0; fi
  ensure_go
  ensure_pkg jq jq
  info=$(require_module "$OPENFGA_MOD@$tag" "openfga $tag")
  up=$(jq -r .Dir <<<"$info")
  # The probe version of the release's Dockerfile.goreleaser, if it names one.
  pv=$(sed -n -E 's#^COPY --from=ghcr.io/grpc-ecosystem/grpc-health-probe:(v[0-9.]+).*#\1#p' "$up/Dockerfile.goreleaser" 2>/dev/null | head -n1)
  probe=${KCPENV_GRPC_HEALTH_PROBE_VERSION:-${pv:-$GRPC_HEALTH_PROBE_VERSION}}
  log "openfga: building image $img from $OPENFGA_MOD@$tag + $GRPC_HEALTH_PROBE_MOD@$probe"
  mkdir -p "$CACHE/logs"
  logf=$CACHE/logs/openfga-$tag.log
  : >"$logf"
  hash=$(jq -r '.Origin.Hash // empty' <<<"$info")
  date=$(jq -r '.Time // empty' <"$(jq -r .Info <<<"$info")")
  b=$OPENFGA_MOD/internal/build
  ld="-s -w -X $b.Version=$tag -X $b.Commit=${hash:-none} -X $b.Date=${date:-unknown} -X $b.ProjectName=openfga"
  require_module "$GRPC_HEALTH_PROBE_MOD@$probe" "openfga's grpc_health_probe" >/dev/null

  out=$CACHE/out/openfga-$tag
  rm -rf "$out"
  mkdir -p "$out"
  log "  go install openfga (CGO_ENABLED=0, -trimpath, nice -n 10; log: $logf)"
  (cd / && CGO_ENABLED=0 GOBIN=$out run_logged "$logf" nice -n 10 go install -trimpath -ldflags "$ld" "$OPENFGA_MOD/cmd/openfga@$tag") ||
    die "openfga $tag ($OPENFGA_MOD@$tag) cannot be built from the Go module proxy (see the refused modules above)"
  log "  go install grpc-health-probe (CGO_ENABLED=0, -tags netgo)"
  (cd / && CGO_ENABLED=0 GOBIN=$out run_logged "$logf" nice -n 10 go install -tags netgo \
    -ldflags "-w -X main.versionTag=${probe#v}" "$GRPC_HEALTH_PROBE_MOD@$probe") ||
    die "grpc-health-probe $probe ($GRPC_HEALTH_PROBE_MOD@$probe) cannot be built from the Go module proxy"

  ctx=$CACHE/ctx/openfga-$tag
  rm -rf "$ctx"
  mkdir -p "$ctx/rootfs/usr/local/bin"
  static_rootfs "$ctx/rootfs"
  # chainguard static's home of uid 65532; a volume mounted there starts owned by it.
  mkdir -p "$ctx/home/nonroot"
  install -m 0755 "$out/openfga" "$ctx/rootfs/openfga"
  install -m 0755 "$out/grpc-health-probe" "$ctx/rootfs/usr/local/bin/grpc_health_probe"
  cp -R "$up/assets" "$ctx/rootfs/assets"
  chmod -R u+w,go+rX "$ctx/rootfs/assets"
  {
    echo 'FROM scratch'
    echo 'COPY rootfs/ /'
    echo 'COPY --chown=65532:65532 home/nonroot /home/nonroot'
    echo 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
    echo "LABEL $(recipe_label openfga) org.opencontainers.image.source=\"https://github.com/openfga/openfga\" org.opencontainers.image.version=\"$tag\" org.opencontainers.image.revision=\"$hash\" io.kcpenv.e2e.mirror-of=\"$ref\" io.kcpenv.e2e.modules=\"$OPENFGA_MOD@$tag $GRPC_HEALTH_PROBE_MOD@$probe\""
    echo 'USER 65532'
    echo 'ENTRYPOINT ["/openfga"]'
  } >"$ctx/Dockerfile"
  build_image "$img" "$ctx" "$logf"
  rm -rf "$out"
  note_built openfga "$t0" "built $img ($(image_size "$img")) from $OPENFGA_MOD@$tag + $GRPC_HEALTH_PROBE_MOD@$probe"
}

# smoke_openfga: `run` (memory datastore), checks /healthz, creating a store, the
# gRPC health probe and the version.
smoke_openfga() {
  local img tag name port=${KCPENV_SMOKE_OPENFGA_PORT:-18080} t0 dt id ver
  img=$(mirror_ref "$(image_ref openfga)")
  tag=$(ref_tag "$(image_ref openfga)")
  name=kcpenv-e2e-smoke-openfga-$$
  ensure_docker
  ensure_pkg curl curl
  image_exists "$img" || die "openfga smoke: $img does not exist (build it first)"
  ver=$(docker run --rm "$img" version 2>&1 || true)
  case $ver in *"$tag"*) ;; *) die "openfga smoke: '/openfga version' does not name $tag: $ver" ;; esac
  trap 'docker rm -f "'"$name"'" >/dev/null 2>&1 || true' EXIT
  t0=$(now)
  docker run -d --name "$name" -p "127.0.0.1:$port:8080" "$img" run --datastore-engine memory --playground-enabled=false >/dev/null
  smoke_wait "$name" "http://127.0.0.1:$port/healthz"
  dt=$(($(now) - t0))
  curl -fsS -m 5 "http://127.0.0.1:$port/healthz" | jq -e '.status == "SERVING"' >/dev/null ||
    die "openfga smoke: /healthz is not SERVING"
  id=$(curl -fsS -m 5 -X POST -H 'Content-Type: application/json' -d '{"name":"smoke"}' \
    "http://127.0.0.1:$port/stores" | jq -r '.id // empty') || true
  [ -n "$id" ] || die "openfga smoke: creating a store failed"
  docker exec "$name" /usr/local/bin/grpc_health_probe -addr=:8081 >/dev/null 2>&1 ||
    die "openfga smoke: grpc_health_probe -addr=:8081 failed"
  [ "$(docker inspect -f '{{.Config.User}}' "$img")" = 65532 ] || die "openfga smoke: image user is not 65532"
  docker rm -f "$name" >/dev/null
  trap - EXIT
  log "openfga smoke: $img ready in ${dt}s, store $id created, grpc_health_probe ok"
  SUMMARY+=("openfga smoke: ok (${dt}s to /healthz; store created; grpc_health_probe ok; version $tag)")
}

# ---------------------------------------------------------------------------
# kubelogin (github.com/int128/kubelogin), a host binary: $BIN_DIR/kubectl-oidc_login
# (`kubectl oidc-login`). The version is the tag of its images.yaml reference (so it
# is pinned with the rest); ldflags as its release workflow, CGO_ENABLED=0. Rebuilt
# when missing or when its stamp (.kubelogin-version: module@version) differs.

KUBELOGIN_MOD=github.com/int128/kubelogin

build_kubelogin() {
  local ref tag t0 dt w logf stamp info up
  ref=$(image_ref kubelogin)
  tag=$(ref_tag "$ref")
  stamp=$KUBELOGIN_MOD@$tag
  t0=$(now)
  if [ "$FORCE" = 0 ] && [ -x "$BIN_DIR/kubectl-oidc_login" ] &&
    [ "$(cat "$BIN_DIR/.kubelogin-version" 2>/dev/null)" = "$stamp" ]; then
    log "kubelogin: $BIN_DIR/kubectl-oidc_login is $stamp (--force rebuilds)"
    SUMMARY+=("kubelogin: skipped, $BIN_DIR/kubectl-oidc_login is $tag")
    return 0
  fi
  ensure_go
  ensure_pkg jq jq
  log "kubelogin: building $BIN_DIR/kubectl-oidc_login from $stamp"
  mkdir -p "$CACHE/logs" "$BIN_DIR"
  logf=$CACHE/logs/kubelogin-$tag.log
  : >"$logf"
  info=$(require_module "$stamp" "kubelogin $tag")
  up=$(jq -r .Dir <<<"$info")
  # A wrapper module, not `go install m@v`: that also reads the module's version
  # list (for deprecations), which the proxy may refuse although it serves the version.
  w=$CACHE/work/kubelogin-$tag
  rm -rf "$w"
  mkdir -p "$w"
  (
    cd "$w"
    printf 'module local.build/kubelogin\n\ngo %s\n\nrequire %s %s\n' \
      "$(go mod edit -json "$up/go.mod" | jq -r .Go)" "$KUBELOGIN_MOD" "$tag" >go.mod
    copy_versioned_replaces "$up/go.mod" # none at v1.36.3
    cp "$up/go.sum" go.sum && chmod u+w go.sum
    log "  go get kubelogin (log: $logf)"
    run_logged "$logf" go get "$stamp" ||
      die "kubelogin $tag ($stamp) cannot be built from the Go module proxy (see the refused modules above; v1.36.3 needs Go >= 1.26.4)"
    log "  go build kubelogin (CGO_ENABLED=0, nice -n 10)"
    CGO_ENABLED=0 run_logged "$logf" nice -n 10 go build -ldflags "-X main.version=$tag" -o "$w/kubelogin" "$KUBELOGIN_MOD" ||
      die "go build of kubelogin $tag failed"
  )
  install -m 0755 "$w/kubelogin" "$BIN_DIR/kubectl-oidc_login"
  rm -f "$w/kubelogin"
  "$BIN_DIR/kubectl-oidc_login" --version >/dev/null 2>&1 || die "$BIN_DIR/kubectl-oidc_login does not run"
  echo "$stamp" >"$BIN_DIR/.kubelogin-version"
  dt=$(($(now) - t0))
  log "kubelogin: built $BIN_DIR/kubectl-oidc_login from $stamp in ${dt}s"
  SUMMARY+=("kubelogin: built $BIN_DIR/kubectl-oidc_login from $stamp, ${dt}s")
}

# smoke_kubelogin: the version it reports, and `kubectl oidc-login` via the bin dir's kubectl.
smoke_kubelogin() {
  local tag v
  tag=$(ref_tag "$(image_ref kubelogin)")
  [ -x "$BIN_DIR/kubectl-oidc_login" ] || die "kubelogin smoke: $BIN_DIR/kubectl-oidc_login is missing"
  v=$("$BIN_DIR/kubectl-oidc_login" --version 2>&1 || true)
  case $v in *"$tag"*) ;; *) die "kubelogin smoke: --version does not name $tag: $v" ;; esac
  if [ -x "$BIN_DIR/kubectl" ]; then
    PATH=$BIN_DIR:$PATH "$BIN_DIR/kubectl" oidc-login --help >/dev/null 2>&1 ||
      die "kubelogin smoke: 'kubectl oidc-login --help' failed (PATH=$BIN_DIR:...)"
    v="$v; kubectl oidc-login --help ok"
  fi
  log "kubelogin smoke: $v"
  SUMMARY+=("kubelogin smoke: ok ($v)")
}

# api-syncagent lives in its own file (it generates a small shim at build time).
# shellcheck source=scripts/e2e-images/syncagent.sh
source "$ROOT/scripts/e2e-images/syncagent.sh"
# shellcheck source=scripts/e2e-images/mcexample.sh
source "$ROOT/scripts/e2e-images/mcexample.sh"

# ---------------------------------------------------------------------------

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

main() {
  local comps=() c t0
  while [ $# -gt 0 ]; do
    case $1 in
      --force | -f) FORCE=1 ;;
      --smoke) SMOKE=1 ;;
      --list)
        for c in "${COMPONENTS[@]}"; do printf '%s\t%s\t%s\n' "$c" "$(image_ref "$c")" "$(component_target "$c")"; done
        return 0 ;;
      --print-bin-dir) printf '%s\n' "$BIN_DIR"; return 0 ;;
      -h | --help) usage; return 0 ;;
      -*) die "unknown option $1 (see --help)" ;;
      *) comps+=("$1") ;;
    esac
    shift
  done
  [ ${#comps[@]} -gt 0 ] || comps=("${COMPONENTS[@]}")
  for c in "${comps[@]}"; do
    case " ${COMPONENTS[*]} " in *" $c "*) ;; *) die "unknown component '$c' (known: ${COMPONENTS[*]})" ;; esac
  done

  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9 # one build at a time per cache dir
  ensure_docker
  t0=$(now)
  for c in "${comps[@]}"; do
    "build_$c"
    if [ "$SMOKE" = 1 ] && declare -F "smoke_$c" >/dev/null; then "smoke_$c"; fi
  done
  log "----"
  for c in "${SUMMARY[@]}"; do log "$c"; done
  log "total $(($(now) - t0))s; host binaries: $BIN_DIR"
  exit 0 # bash then reads no further, even if this file was edited meanwhile
}

main "$@"
