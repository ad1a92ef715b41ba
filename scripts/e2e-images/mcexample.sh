# shellcheck shell=bash
# multicluster-provider's apiexport example (github.com/kcp-dev/multicluster-provider,
# examples/apiexport): build_mcexample. A multicluster-runtime controller that
# reconciles ConfigMaps in every workspace bound to an APIExport, given the name of its
# APIExportEndpointSlice (--endpointslice) and a kubeconfig ($KUBECONFIG) at the
# slice's workspace. The e2e tests run it against the syncagent profile.
#
# Sourced by scripts/e2e-images.sh; uses its log, die, now, ensure_go, ensure_pkg,
# require_module, copy_versioned_replaces, run_logged and its FORCE, CACHE, BIN_DIR,
# SUMMARY.
#
# Host binary $BIN_DIR/multicluster-apiexport-example, rebuilt when missing or when
# its stamp (.mcexample-version: module@version) differs. The version defaults to the
# multicluster-provider that the pinned api-syncagent requires (v0.8.0 for v0.7.0);
# KCPENV_MCEXAMPLE_VERSION overrides it. A wrapper module, not `go install m/pkg@v`:
# that reads the module's version list, which the proxy refuses.

MCEXAMPLE_MOD=github.com/kcp-dev/multicluster-provider
MCEXAMPLE_PKG=$MCEXAMPLE_MOD/examples/apiexport

mcexample_version() {
  local info
  if [ -n "${KCPENV_MCEXAMPLE_VERSION:-}" ]; then echo "$KCPENV_MCEXAMPLE_VERSION"; return 0; fi
  info=$(require_module "$SYNCAGENT_MOD@$(ref_tag "$(image_ref syncagent)")" "api-syncagent (for its multicluster-provider version)")
  go mod edit -json "$(jq -r .GoMod <<<"$info")" |
    jq -r --arg m "$MCEXAMPLE_MOD" '.Require[] | select(.Path == $m) | .Version'
}

build_mcexample() {
  local ver stamp t0 w logf info up out=$BIN_DIR/multicluster-apiexport-example
  ensure_go
  ensure_pkg jq jq
  ver=$(mcexample_version)
  [ -n "$ver" ] || die "mcexample: cannot tell which multicluster-provider the pinned api-syncagent uses; set KCPENV_MCEXAMPLE_VERSION"
  stamp=$MCEXAMPLE_MOD@$ver
  t0=$(now)
  if [ "$FORCE" = 0 ] && [ -x "$out" ] && [ "$(cat "$BIN_DIR/.mcexample-version" 2>/dev/null)" = "$stamp" ]; then
    log "mcexample: $out is $stamp (--force rebuilds)"
    SUMMARY+=("mcexample: skipped, $out is $ver")
    return 0
  fi
  log "mcexample: building $out from $MCEXAMPLE_PKG@$ver"
  mkdir -p "$CACHE/logs" "$BIN_DIR"
  logf=$CACHE/logs/mcexample-$ver.log
  : >"$logf"
  info=$(require_module "$stamp" "multicluster-provider $ver")
  up=$(jq -r .Dir <<<"$info")
  w=$CACHE/work/mcexample-$ver
  rm -rf "$w"
  mkdir -p "$w"
  (
    cd "$w" || exit
    printf 'module local.build/mcexample\n\ngo %s\n\nrequire %s %s\n' \
      "$(go mod edit -json "$up/go.mod" | jq -r .Go)" "$MCEXAMPLE_MOD" "$ver" >go.mod
    copy_versioned_replaces "$up/go.mod"
    cp "$up/go.sum" go.sum && chmod u+w go.sum
    log "  go get $MCEXAMPLE_PKG (log: $logf)"
    run_logged "$logf" go get "$MCEXAMPLE_PKG@$ver" ||
      die "multicluster-provider $ver ($stamp) cannot be built from the Go module proxy"
    log "  go build (CGO_ENABLED=0, nice -n 10)"
    CGO_ENABLED=0 run_logged "$logf" nice -n 10 go build -trimpath -o "$w/example" "$MCEXAMPLE_PKG" ||
      die "go build of $MCEXAMPLE_PKG@$ver failed"
  )
  install -m 0755 "$w/example" "$out"
  rm -f "$w/example"
  "$out" --help >/dev/null 2>&1 || [ $? = 2 ] || die "$out does not run"
  echo "$stamp" >"$BIN_DIR/.mcexample-version"
  note_built mcexample "$t0" "built $out from $MCEXAMPLE_PKG@$ver"
}
