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
#
# Go's module and build caches stay in their default places, so a second run is
# quick. Builds run under `nice -n 10`.
#
# Adding a component: write build_<key> (and optionally smoke_<key>), add <key>
# to COMPONENTS, add `<key>: <reference>` to images.yaml.
set -euo pipefail

COMPONENTS=(kcp)

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

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

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
# busybox-based FROM-scratch rootfs (mirrors gcr.io/distroless/static:debug)

# scratch_rootfs DIR: CA bundle, passwd/group (root, nobody, nonroot 65532),
# /busybox with applet symlinks, /tmp, zoneinfo (tzdata).
scratch_rootfs() {
  local d=$1 a
  ensure_pkg /bin/busybox busybox-static
  ensure_pkg /etc/ssl/certs/ca-certificates.crt ca-certificates
  ensure_pkg /usr/share/zoneinfo/UTC tzdata
  file_is_static /bin/busybox || die "/bin/busybox is not statically linked (install busybox-static)"
  mkdir -p "$d/busybox" "$d/etc/ssl/certs" "$d/tmp" "$d/root" "$d/usr/bin" "$d/usr/local/bin"
  chmod 1777 "$d/tmp"
  chmod 0700 "$d/root"
  cp /bin/busybox "$d/busybox/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$d/busybox/$a"
  done
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

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

main() {
  local comps=() c t0
  while [ $# -gt 0 ]; do
    case $1 in
      --force | -f) FORCE=1 ;;
      --smoke) SMOKE=1 ;;
      --list)
        for c in "${COMPONENTS[@]}"; do printf '%s\t%s\t%s\n' "$c" "$(image_ref "$c")" "$(mirror_ref "$(image_ref "$c")")"; done
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
