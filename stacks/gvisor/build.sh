#!/usr/bin/env bash
# Builds gVisor's netstack under tcpcheck: stacks/gvisor/build/tcpcheck-gvisor, a child that
# speaks the stack protocol (docs/stack-protocol.md; `tcpcheck fuzz --stack
# exec:stacks/gvisor/build/tcpcheck-gvisor`). main.go's header comment says what it does.
#
# gVisor's source is not in this repository. It comes from Debian's golang-gvisor-gvisor-dev
# (gVisor's snapshot of 2022-12-19, the version the harness's line citations are for, with its
# Go dependencies under /usr/share/gocode), compiled by Debian's golang-go (Go 1.19); both are
# installed by scripts/setup. The build is offline: GOPATH mode against /usr/share/gocode, no
# module proxy, the Go build cache in stacks/gvisor/build/ (ignored by git).
#
# Called by scripts/setup; safe to run again: rebuilds only when a source (or the installed
# gVisor package) is newer than the binary. Quiet unless it does something or fails.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$here/build
out=$build/tcpcheck-gvisor
gocode=/usr/share/gocode
version=0.0~20221219

say() { echo "stacks/gvisor: $*"; }
die() { echo "stacks/gvisor: $*" >&2; exit 1; }

command -v go >/dev/null || die "go is needed (apt-get install golang-go)"
[ -f "$gocode/src/gvisor.dev/gvisor/pkg/tcpip/transport/tcp/endpoint.go" ] ||
    die "gVisor's source is needed in $gocode (apt-get install golang-gvisor-gvisor-dev)"
if command -v dpkg-query >/dev/null; then
    installed=$(dpkg-query -W -f='${Version}' golang-gvisor-gvisor-dev 2>/dev/null || true)
    case $installed in
    "$version"*) ;;
    *) die "golang-gvisor-gvisor-dev is ${installed:-not installed as a package}, not $version, which the harness is written for" ;;
    esac
fi

sources=("$here"/*.go "$here/build.sh")
package_list=/var/lib/dpkg/info/golang-gvisor-gvisor-dev.list
[ -f "$package_list" ] && sources+=("$package_list")
if [ -x "$out" ]; then
    stale=0
    for f in "${sources[@]}"; do [ "$f" -nt "$out" ] && stale=1; done
    [ $stale = 0 ] && exit 0
fi

say "building tcpcheck-gvisor"
mkdir -p "$build"
# -trimpath: a panic names gVisor's files as gvisor.dev/gvisor/pkg/..., not this machine's
# paths, so a crash finding reads the same wherever it is replayed.
(cd "$here" && GO111MODULE=off GOPATH="$gocode" GOPROXY=off GOFLAGS= GOCACHE="$build/gocache" \
    CGO_ENABLED=0 go build -trimpath -o "$out.tmp" .) || die "go build failed"
mv "$out.tmp" "$out"
say "built $out"
