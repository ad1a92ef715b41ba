# shellcheck shell=bash
# api-syncagent (github.com/kcp-dev/api-syncagent): build_syncagent, smoke_syncagent.
#
# Sourced by scripts/e2e-images.sh (after its helpers, before `main "$@"`); uses its
# log, die, now, image_ref, ref_tag, mirror_ref, image_exists, ensure_go, ensure_pkg,
# ensure_docker, go_download, copy_versioned_replaces, local_replaces, run_logged,
# scratch_rootfs, file_is_static and its FORCE, CACHE and SUMMARY.
#
# A wrapper module requires api-syncagent at the pinned tag, copies the versioned
# replaces of its go.mod (k8s.io/* -> the kcp-dev/kubernetes fork), points its local
# replace ./sdk at the nested module github.com/kcp-dev/api-syncagent/sdk at the same
# tag, and moves each github.com/kcp-dev/* requirement the proxy does not serve to the
# nearest served later patch release (v0.7.0: github.com/kcp-dev/client-go v0.32.0 is
# refused, v0.32.3 is used). Binary: CGO_ENABLED=0, -trimpath, version ldflags as
# upstream's Makefile.
#
# github.com/kcp-dev/virtual-workspace-framework (kcp's staging repo since kcp v0.31)
# is refused by the module proxy at every version. api-syncagent uses one package of
# it, crdpuller (internal/discovery: crdpuller.Convert, the OpenAPI v2 -> CRD schema
# converter), which before kcp v0.31 lived in kcp itself as pkg/crdpuller. The shim
# is generated at build time, never kept in this repository: the non-test files of
# pkg/crdpuller of $SYNCAGENT_CRDPULLER_FROM (a served kcp release, default
# github.com/kcp-dev/kcp@v0.30.0) are copied from the module cache into
# <work>/third_party/virtual-workspace-framework/crdpuller and pruned by a small
# generator (syncagent_shimgen_source below) to the declarations reachable from the
# crdpuller identifiers api-syncagent's sources reference; the rest of the package
# (PullCRDs and its import of kcp's server scheme) and the imports that become unused
# are dropped. A `replace` points the module path at that directory. `go build`
# checks that the API matches.
#
# Environment:
#   KCPENV_SYNCAGENT_CRDPULLER_FROM  module@version holding pkg/crdpuller for the shim
#                                    (default github.com/kcp-dev/kcp@v0.30.0)

SYNCAGENT_MOD=github.com/kcp-dev/api-syncagent
SYNCAGENT_VWF_MOD=github.com/kcp-dev/virtual-workspace-framework
SYNCAGENT_CRDPULLER_FROM=${KCPENV_SYNCAGENT_CRDPULLER_FROM:-github.com/kcp-dev/kcp@v0.30.0}

# syncagent_served_patch MOD VERSION: prints MOD@VERSION, or the nearest later patch
# release of the same minor (up to +3) that the module proxy serves; fails when none.
syncagent_served_patch() {
  local mod=$1 ver=$2 d
  if go_download "$mod@$ver" >/dev/null; then echo "$mod@$ver"; return 0; fi
  [[ $ver =~ ^(v[0-9]+\.[0-9]+)\.([0-9]+)$ ]] || return 1
  for d in 1 2 3; do
    if go_download "$mod@${BASH_REMATCH[1]}.$((BASH_REMATCH[2] + d))" >/dev/null; then
      echo "$mod@${BASH_REMATCH[1]}.$((BASH_REMATCH[2] + d))"
      return 0
    fi
  done
  return 1
}

# syncagent_vwf_uses UPSTREAM_DIR: "<package> <identifier>" per exported identifier
# of a virtual-workspace-framework package that the upstream (non-test) sources use.
# shellcheck disable=SC2094 # $f is only read
syncagent_vwf_uses() {
  local f pkg alias line
  while IFS= read -r f; do
    while IFS= read -r line; do
      [[ $line =~ ^[[:space:]]*(import[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*[[:space:]]+)?\"$SYNCAGENT_VWF_MOD/([^\"]+)\" ]] || continue
      pkg=${BASH_REMATCH[3]}
      alias=${BASH_REMATCH[2]%%[[:space:]]*}
      [ -n "$alias" ] || alias=${pkg##*/}
      grep -oE "\\b$alias\\.[A-Z][A-Za-z0-9_]*" "$f" | sed "s/^$alias\\./$pkg /"
    done <"$f"
  done < <(grep -rlF --include='*.go' "\"$SYNCAGENT_VWF_MOD/" "$1" | grep -v '_test\.go$') | sort -u
}

# syncagent_shimgen_source: a Go program (shimgen DIR ROOT...) that keeps, in the Go
# package in DIR, the top-level declarations reachable from the ROOT identifiers (plus
# init functions, the methods of kept types and `var _ = ...` assertions over kept
# declarations), drops the rest, blank imports and imports that become unused, and
# rewrites the files (files left without declarations are removed).
syncagent_shimgen_source() {
  cat <<'EOF_GO'
// shimgen prunes a Go package to the declarations reachable from given roots.
package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type node struct {
	file *ast.File
	decl ast.Decl // *ast.FuncDecl or *ast.GenDecl
	spec ast.Spec // nil for a function
	keep bool
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "shimgen: "+format+"\n", args...)
	os.Exit(1)
}

// refs: identifiers used in n, selector names excluded.
func refs(n ast.Node) map[string]bool {
	out := map[string]bool{}
	ast.Inspect(n, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.SelectorExpr:
			ast.Inspect(x.X, func(y ast.Node) bool {
				if id, ok := y.(*ast.Ident); ok {
					out[id.Name] = true
				}
				return true
			})
			return false
		case *ast.Ident:
			out[x.Name] = true
		}
		return true
	})
	return out
}

func recvType(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return ""
	}
	t := fd.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.ParenExpr:
			t = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

var majorSuffix = regexp.MustCompile(`^v[0-9]+$`)

// importName: the name an import is used under (for an unnamed import, the last
// path element without a /vN major suffix, a gopkg.in .vN suffix or a go- prefix).
func importName(s *ast.ImportSpec) string {
	if s.Name != nil {
		return s.Name.Name
	}
	p, _ := strconv.Unquote(s.Path.Value)
	el := strings.Split(p, "/")
	n := el[len(el)-1]
	if majorSuffix.MatchString(n) && len(el) > 1 {
		n = el[len(el)-2]
	}
	if i := strings.Index(n, "."); i > 0 {
		n = n[:i]
	}
	n = strings.TrimPrefix(n, "go-")
	return strings.ReplaceAll(n, "-", "_")
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: shimgen DIR ROOT...")
	}
	dir := os.Args[1]
	fset := token.NewFileSet()
	paths, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	sort.Strings(paths)
	files := map[string]*ast.File{}
	var nodes []*node
	byName := map[string][]*node{}
	methods := map[string][]*node{}
	var blanks []*node
	var work []*node
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			fail("%v", err)
		}
		files[p] = f
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				n := &node{file: f, decl: d}
				nodes = append(nodes, n)
				if rt := recvType(d); rt != "" {
					methods[rt] = append(methods[rt], n)
				} else if d.Name.Name == "init" {
					work = append(work, n)
				} else {
					byName[d.Name.Name] = append(byName[d.Name.Name], n)
				}
			case *ast.GenDecl:
				if d.Tok == token.IMPORT {
					continue
				}
				for _, s := range d.Specs {
					n := &node{file: f, decl: d, spec: s}
					nodes = append(nodes, n)
					switch s := s.(type) {
					case *ast.TypeSpec:
						byName[s.Name.Name] = append(byName[s.Name.Name], n)
					case *ast.ValueSpec:
						blank := true
						for _, id := range s.Names {
							if id.Name != "_" {
								blank = false
								byName[id.Name] = append(byName[id.Name], n)
							}
						}
						if blank {
							blanks = append(blanks, n)
						}
					}
				}
			}
		}
	}
	for _, r := range os.Args[2:] {
		if len(byName[r]) == 0 {
			fail("%s declares no %s", dir, r)
		}
		work = append(work, byName[r]...)
	}
	mark := func() {
		for len(work) > 0 {
			n := work[len(work)-1]
			work = work[:len(work)-1]
			if n.keep {
				continue
			}
			n.keep = true
			var body ast.Node = n.decl
			if n.spec != nil {
				body = n.spec
				if ts, ok := n.spec.(*ast.TypeSpec); ok {
					work = append(work, methods[ts.Name.Name]...)
				}
			}
			for name := range refs(body) {
				work = append(work, byName[name]...)
			}
		}
	}
	mark()
	// `var _ I = (*T)(nil)` assertions: kept when everything they name is kept.
	for changed := true; changed; {
		changed = false
		for _, n := range blanks {
			if n.keep {
				continue
			}
			ok := true
			for name := range refs(n.spec) {
				for _, m := range byName[name] {
					ok = ok && m.keep
				}
			}
			if ok {
				work = append(work, n)
				mark()
				changed = true
			}
		}
	}

	kept := map[ast.Node]bool{}
	for _, n := range nodes {
		if n.keep {
			kept[n.decl] = true
			if n.spec != nil {
				kept[n.spec] = true
			}
		}
	}
	for p, f := range files {
		type span struct{ from, to token.Pos }
		var dropped []span
		drop := func(doc *ast.CommentGroup, n ast.Node, trailing *ast.CommentGroup) {
			s := span{n.Pos(), n.End()}
			if doc != nil {
				s.from = doc.Pos()
			}
			if trailing != nil {
				s.to = trailing.End()
			}
			dropped = append(dropped, s)
		}
		var decls []ast.Decl
		used := map[string]bool{}
		var imports *ast.GenDecl
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !kept[d] {
					drop(d.Doc, d, nil)
					continue
				}
			case *ast.GenDecl:
				if d.Tok == token.IMPORT {
					imports = d
					continue
				}
				var specs []ast.Spec
				for _, s := range d.Specs {
					if kept[s] {
						specs = append(specs, s)
						continue
					}
					switch s := s.(type) {
					case *ast.TypeSpec:
						drop(s.Doc, s, s.Comment)
					case *ast.ValueSpec:
						drop(s.Doc, s, s.Comment)
					}
				}
				if len(specs) == 0 {
					drop(d.Doc, d, nil)
					continue
				}
				d.Specs = specs
			}
			decls = append(decls, d)
			// Package qualifiers: selector operands the parser did not resolve to a
			// local or package-level object.
			ast.Inspect(d, func(x ast.Node) bool {
				if se, ok := x.(*ast.SelectorExpr); ok {
					if id, ok := se.X.(*ast.Ident); ok && id.Obj == nil {
						used[id.Name] = true
					}
				}
				return true
			})
		}
		if len(decls) == 0 && f.Doc == nil {
			if err := os.Remove(p); err != nil {
				fail("%v", err)
			}
			continue
		}
		var out []ast.Decl
		if imports != nil {
			var specs []ast.Spec
			for _, s := range imports.Specs {
				is := s.(*ast.ImportSpec)
				name := importName(is)
				if name == "." || (name != "_" && used[name]) {
					specs = append(specs, s)
				} else {
					drop(is.Doc, is, is.Comment)
				}
			}
			if len(specs) < len(imports.Specs) && imports.Doc != nil {
				// The import block's comment explained imports that are gone.
				dropped = append(dropped, span{imports.Doc.Pos(), imports.Doc.End()})
				imports.Doc = nil
			}
			if len(specs) > 0 {
				imports.Specs = specs
				out = append(out, imports)
			} else {
				drop(nil, imports, nil)
			}
		}
		f.Decls = append(out, decls...)
		var comments []*ast.CommentGroup
		for _, c := range f.Comments {
			in := false
			for _, s := range dropped {
				if c.Pos() >= s.from && c.End() <= s.to {
					in = true
				}
			}
			if !in {
				comments = append(comments, c)
			}
		}
		f.Comments = comments
		var buf bytes.Buffer
		if err := format.Node(&buf, fset, f); err != nil {
			fail("%s: %v", p, err)
		}
		src, err := format.Source(buf.Bytes())
		if err != nil {
			fail("%s: %v", p, err)
		}
		if err := os.WriteFile(p, src, 0o644); err != nil {
			fail("%v", err)
		}
	}
}
EOF_GO
}

# syncagent_make_shim UPSTREAM_DIR GO_VERSION SHIM_DIR LOG: generates the
# virtual-workspace-framework shim module in SHIM_DIR (see the top of this file).
syncagent_make_shim() {
  local up=$1 gov=$2 shim=$3 logf=$4 uses pkgs from_dl from_dir gen roots f hdr
  uses=$(syncagent_vwf_uses "$up")
  [ -n "$uses" ] || die "$SYNCAGENT_MOD uses no package of $SYNCAGENT_VWF_MOD (the shim is not needed: drop it)"
  pkgs=$(awk '{print $1}' <<<"$uses" | sort -u)
  [ "$pkgs" = crdpuller ] ||
    die "$SYNCAGENT_MOD uses $SYNCAGENT_VWF_MOD packages $(tr '\n' ' ' <<<"$pkgs")- the shim provides only crdpuller (from kcp's pkg/crdpuller)"
  roots=$(awk '{print $2}' <<<"$uses" | tr '\n' ' ')
  roots=${roots% }
  from_dl=$(go_download "$SYNCAGENT_CRDPULLER_FROM") ||
    die "$SYNCAGENT_CRDPULLER_FROM (source of the crdpuller shim) is not served by the Go module proxy (KCPENV_SYNCAGENT_CRDPULLER_FROM picks another)"
  from_dir=$(jq -r .Dir <<<"$from_dl")
  [ -d "$from_dir/pkg/crdpuller" ] || die "$SYNCAGENT_CRDPULLER_FROM has no pkg/crdpuller"
  log "  shim $SYNCAGENT_VWF_MOD/crdpuller from $SYNCAGENT_CRDPULLER_FROM/pkg/crdpuller (keeping: $roots)"
  rm -rf "$shim"
  mkdir -p "$shim/crdpuller"
  for f in "$from_dir"/pkg/crdpuller/*.go; do
    case $f in *_test.go) continue ;; esac
    install -m 0644 "$f" "$shim/crdpuller/"
  done
  gen=$CACHE/work/syncagent-shimgen
  mkdir -p "$gen"
  syncagent_shimgen_source >"$gen/main.go"
  printf 'module local.build/shimgen\n\ngo 1.22\n' >"$gen/go.mod"
  # shellcheck disable=SC2086 # roots: one argument per identifier
  (cd "$gen" && run_logged "$logf" go run . "$shim/crdpuller" $roots) ||
    die "generating the crdpuller shim failed"
  hdr="// Code generated by kcpenv scripts/e2e-images/syncagent.sh from $SYNCAGENT_CRDPULLER_FROM/pkg/crdpuller (pruned to: $roots). DO NOT EDIT."
  for f in "$shim"/crdpuller/*.go; do
    { printf '%s\n\n' "$hdr"; cat "$f"; } >"$f.new" && mv "$f.new" "$f"
  done
  if grep -h '^[[:space:]]*\(import[[:space:]]\+\)\?\([A-Za-z_][A-Za-z0-9_]*[[:space:]]\+\)\?"github.com/kcp-dev/kcp/' "$shim"/crdpuller/*.go >&2; then
    die "the crdpuller shim still imports kcp packages (above)"
  fi
  printf 'module %s\n\ngo %s\n' "$SYNCAGENT_VWF_MOD" "$gov" >"$shim/go.mod"
}

build_syncagent() {
  local ref v img t0 w out ctx logf info up hash gov ld old_id mod ver got old dir mods=""
  ref=$(image_ref syncagent)
  v=$(ref_tag "$ref")
  img=$(mirror_ref "$ref")
  t0=$(now)
  if skip_built syncagent "$img"; then return 0; fi
  ensure_go
  ensure_pkg jq jq
  log "syncagent: building image $img from $SYNCAGENT_MOD@$v"
  mkdir -p "$CACHE/logs"
  logf=$CACHE/logs/syncagent-$v.log
  : >"$logf"

  info=$(go_download "$SYNCAGENT_MOD@$v") || die "$SYNCAGENT_MOD@$v is not served by the Go module proxy"
  up=$(jq -r .Dir <<<"$info")
  hash=$(jq -r '.Origin.Hash // empty' <<<"$info")
  [ -n "$hash" ] || die "no commit hash in the proxy's info for $SYNCAGENT_MOD@$v"
  gov=$(go mod edit -json "$up/go.mod" | jq -r .Go)
  # As upstream's Makefile (git describe at the tag = the tag).
  ld="-extldflags '-static' -X $SYNCAGENT_MOD/internal/version.gitVersion=$v -X $SYNCAGENT_MOD/internal/version.gitHead=$hash -w"

  w=$CACHE/work/syncagent-$v
  out=$CACHE/out/syncagent-$v
  rm -rf "$w" "$out"
  mkdir -p "$w" "$out"
  (
    cd "$w" || exit 1
    printf 'module local.build/api-syncagent\n\ngo %s\n\nrequire %s %s\n' "$gov" "$SYNCAGENT_MOD" "$v" >go.mod
    copy_versioned_replaces "$up/go.mod" # k8s.io/* -> github.com/kcp-dev/kubernetes fork
    while read -r old dir; do
      [ -n "$old" ] || continue
      case $old in
        "$SYNCAGENT_MOD"/*) go mod edit "-replace=$old=$old@$v" ;; # nested module, same tag (sdk/vX)
        *) die "$SYNCAGENT_MOD@$v: unexpected local replace $old => $dir" ;;
      esac
      mods+=" $old@$v"
    done < <(local_replaces "$up/go.mod")
    # kcp-dev modules at a release the proxy refuses: the nearest served later patch.
    while read -r mod ver; do
      case $mod in "$SYNCAGENT_VWF_MOD" | "$SYNCAGENT_MOD"/*) continue ;; esac
      got=$(syncagent_served_patch "$mod" "$ver") || {
        log "  note: $mod@$ver is not served by the Go module proxy (nor a later patch up to +3); kept (fine unless the build needs a package of it)"
        continue
      }
      if [ "$got" != "$mod@$ver" ]; then
        log "  $mod@$ver is not served by the Go module proxy; requiring $got"
        go mod edit "-require=$got"
        mods+=" $got"
      fi
    done < <(go mod edit -json "$up/go.mod" |
      jq -r '.Require[] | select(.Path | startswith("github.com/kcp-dev/")) | "\(.Path) \(.Version)"')
    syncagent_make_shim "$up" "$gov" "$w/third_party/virtual-workspace-framework" "$logf"
    go mod edit "-replace=$SYNCAGENT_VWF_MOD=./third_party/virtual-workspace-framework"
    cp "$up/go.sum" go.sum && chmod u+w go.sum # upstream-verified checksums
    log "  go get api-syncagent (log: $logf)"
    run_logged "$logf" go get "$SYNCAGENT_MOD/cmd/api-syncagent@$v" ||
      die "api-syncagent $v cannot be built from the Go module proxy (see the refused modules above)"
    log "  go build api-syncagent (CGO_ENABLED=0, nice -n 10)"
    CGO_ENABLED=0 run_logged "$logf" nice -n 10 go build -trimpath -ldflags "$ld" -o "$out/api-syncagent" \
      "$SYNCAGENT_MOD/cmd/api-syncagent" || die "go build of api-syncagent failed"
    printf '%s\n' "$mods" >"$out/modules"
  )
  mods=$(cat "$out/modules")
  file_is_static "$out/api-syncagent" || die "api-syncagent is not statically linked"

  # Image context: a distroless static-debian12:debug-like rootfs plus upstream's layout.
  ctx=$CACHE/ctx/syncagent-$v
  rm -rf "$ctx"
  mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/empty-dir"
  scratch_rootfs "$ctx/rootfs"
  install -m 0755 "$out/api-syncagent" "$ctx/rootfs/usr/local/bin/api-syncagent"
  {
    echo 'FROM scratch'
    echo 'COPY rootfs/ /'
    echo 'COPY --chown=65532:65532 empty-dir/ /home/nonroot/'
    echo 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
    echo 'WORKDIR /'
    echo "LABEL org.opencontainers.image.source=\"https://github.com/kcp-dev/api-syncagent\" org.opencontainers.image.description=\"A Kubernetes agent to synchronize APIs and their objects between Kubernetes clusters and kcp\" org.opencontainers.image.licenses=\"Apache-2.0\" org.opencontainers.image.version=\"$v\" org.opencontainers.image.revision=\"$hash\" io.kcpenv.e2e.mirror-of=\"$ref\" io.kcpenv.e2e.modules=\"$SYNCAGENT_MOD@$v$mods\" io.kcpenv.e2e.crdpuller-shim=\"$SYNCAGENT_VWF_MOD/crdpuller generated from $SYNCAGENT_CRDPULLER_FROM/pkg/crdpuller\""
    echo 'USER nobody'
    echo 'ENTRYPOINT ["api-syncagent"]'
  } >"$ctx/Dockerfile"
  ensure_docker
  log "  docker build -t $img"
  old_id=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
  run_logged "$logf" docker build -t "$img" "$ctx" || die "docker build failed"
  rm -rf "$ctx" "$out"
  # A --force rebuild leaves the previous image untagged: drop it unless in use.
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$img")" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
  note_built syncagent "$t0" "built $img ($(image_size "$img")) from $SYNCAGENT_MOD@$v (+$mods; crdpuller shim from $SYNCAGENT_CRDPULLER_FROM)"
}

# smoke_syncagent: --help lists the agent's flags; the image runs as nobody (65534)
# with busybox; the agent starts (version stamped) and stops at the missing cluster.
smoke_syncagent() {
  local ref v img help uid outp
  ref=$(image_ref syncagent)
  v=$(ref_tag "$ref")
  img=$(mirror_ref "$ref")
  ensure_docker
  help=$(docker run --rm "$img" --help 2>&1 || true)
  grep -q -- '--apiexportendpointslice-ref' <<<"$help" || {
    printf '%s\n' "$help" | tail -n 20 >&2
    die "syncagent smoke: --help does not list --apiexportendpointslice-ref"
  }
  uid=$(docker run --rm --entrypoint /busybox/sh "$img" -c 'id -u; id -g; api-syncagent --help >/dev/null 2>&1 && echo ok' | tr '\n' ' ')
  [ "$uid" = "65534 65534 ok " ] || die "syncagent smoke: want 'uid 65534, gid 65534, api-syncagent on PATH', got '$uid'"
  # Flags valid, no cluster: the agent logs its hello (with the version) and exits.
  outp=$(docker run --rm "$img" --namespace=smoke --apiexportendpointslice-ref=smoke \
    --kcp-kubeconfig=/nonexistent 2>&1 || true)
  grep -q "Moin.*$v\|$v.*Moin" <<<"$outp" || {
    printf '%s\n' "$outp" | tail -n 20 >&2
    die "syncagent smoke: no start-up line with version $v"
  }
  log "syncagent smoke: $img --help ok, uid/gid 65534, starts as $v"
  SUMMARY+=("syncagent smoke: ok (--help, uid 65534, version $v)")
}
