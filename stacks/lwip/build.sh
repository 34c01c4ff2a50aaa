#!/usr/bin/env bash
# Builds lwIP under tcpcheck: stacks/lwip/build/tcpcheck-lwip (`tcpcheck fuzz --stack lwip`).
#
# lwIP's source is not in this repository. It comes from the distribution's source package
# `lwip` (upstream lwIP 2.1.3, the version the harness's hello and line citations are for),
# fetched with `apt-get source` through a private sources list made from this machine's own
# apt mirrors, and unpacked without the distribution's patches (none of them touches TCP), into
# stacks/lwip/build/ (ignored by git). Then lwIP's core, the harness and stacks/c are compiled,
# with lwIP's variables linked into sections of their own so the harness can reset lwIP by
# copying them back (harness.c, "Resetting").
#
# Called by scripts/setup; safe to run again: fetches only what is missing and rebuilds only
# when a source is newer than the binary. Quiet unless it does something or fails.
# Needs gcc, binutils (ld, objcopy, readelf), apt-get and dpkg-source (dpkg-dev).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$here/build
version=2.1.3
src=$build/lwip-$version
out=$build/tcpcheck-lwip
cc=${CC:-gcc}

say() { echo "stacks/lwip: $*"; }
die() { echo "stacks/lwip: $*" >&2; exit 1; }

# deb-src lines for every mirror apt is configured with, in the one-line format: from deb822
# files (sources.list.d/*.sources) and from one-line files (sources.list, sources.list.d/*.list).
mirrors() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /deb/ && uris != "" && suites != "") {
                    n = split(uris, u, " "); m = split(suites, s, " ")
                    for (i = 1; i <= n; i++) for (j = 1; j <= m; j++)
                        printf "deb-src %s %s %s %s\n", opts, u[i], s[j], comps
                }
                types = uris = suites = comps = opts = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { next }  # a continuation line (an inline key)
            {
                key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^[ \t]+/, "")
                if (key == "types") types = $0
                else if (key == "uris") uris = $0
                else if (key == "suites") suites = $0
                else if (key == "components") comps = $0
                else if (key == "signed-by" && $0 ~ /^\//) opts = "[signed-by=" $0 "]"
                else if (key == "enabled" && tolower($0) == "no") types = ""
            }
            END { flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -n -E 's/^[[:space:]]*deb(-src)?[[:space:]]+/deb-src /p' "$f"
    done
}

fetch() {
    command -v apt-get >/dev/null || die "apt-get is needed to fetch lwIP's source package"
    command -v dpkg-source >/dev/null || die "dpkg-source is needed (apt-get install dpkg-dev)"
    local tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    mkdir -p "$tmp/lists/partial" "$tmp/parts" "$tmp/src"
    mirrors | sort -u >"$tmp/sources.list"
    [ -s "$tmp/sources.list" ] || die "no apt mirror is configured in /etc/apt (sources.list or sources.list.d)"
    local apt=(apt-get -qq -o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/parts"
        -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
        -o "APT::Sandbox::User=root")
    say "fetching lwIP's source package"
    "${apt[@]}" update >/dev/null || die "apt-get update with the private sources list failed"
    (cd "$tmp/src" && "${apt[@]}" source --download-only lwip >/dev/null) || die "apt-get source lwip failed"
    local dsc
    dsc=$(ls "$tmp/src"/lwip_*.dsc)
    case $(basename "$dsc") in
    lwip_"$version"+*.dsc | lwip_"$version"-*.dsc) ;;
    *) die "the mirrors have $(basename "$dsc"), not lwIP $version, which the harness is written for" ;;
    esac
    rm -rf "$src"
    mkdir -p "$build"
    dpkg-source --skip-patches -x "$dsc" "$src" >/dev/null 2>&1 || die "dpkg-source could not unpack $dsc"
    rm -f "$build"/lwip_*.orig.tar.*
    grep -q "LWIP_VERSION_REVISION *3" "$src/src/include/lwip/init.h" || die "$src is not lwIP $version"
}

[ -f "$src/src/core/tcp.c" ] || fetch

# lwIP's core for IPv4 and TCP; the files of what lwipopts.h turns off compile to nothing.
core=(def inet_chksum init ip mem memp netif pbuf tcp tcp_in tcp_out timeouts ipv4/ip4 ipv4/ip4_addr)
ours=("$here/harness.c" "$here/lwipopts.h" "$here/arch/cc.h" "$here/../c/tcpcheck_stack.c"
    "$here/../c/tcpcheck_stack.h" "$here/build.sh")
if [ -x "$out" ]; then
    stale=0
    for f in "${ours[@]}"; do [ "$f" -nt "$out" ] && stale=1; done
    [ $stale = 0 ] && exit 0
fi

say "building tcpcheck-lwip"
obj=$build/obj
rm -rf "$obj"
mkdir -p "$obj"
# -fno-pie: lwIP's initialised pointers stay in .data (not .data.rel*); -fno-common: its
# uninitialised variables in .bss. Both are checked below.
# -ffile-prefix-map: an assertion names lwIP's file as `lwip-2.1.3/src/...`, not this checkout's
# path, so a crash finding reads the same wherever it is replayed.
flags=(-std=gnu99 -O2 -g -fno-pie -fno-common -ffile-prefix-map="$src"=lwip-2.1.3 -I "$here" -I "$src/src/include")
objs=()
for f in "${core[@]}"; do
    objs+=("$obj/$(basename "$f").o")
    "$cc" "${flags[@]}" -c "$src/src/core/$f.c" -o "${objs[-1]}" &
done
wait
for o in "${objs[@]}"; do [ -f "$o" ] || die "compiling lwIP's core failed"; done

# All of lwIP in one object whose variables are two named sections; the linker then provides
# __start_/__stop_ symbols for each, which harness.c copies.
ld -r -o "$obj/lwip-all.o" "${objs[@]}"
# Three file-static counters of lwIP's TCP timer are made global, so that the harness can skip
# ticks that only move them (harness.c, "Skipping ticks"); lwIP's code is unchanged.
counters=(tcp_timer tcp_timer_ctr next_timeout)
objcopy --rename-section .data=tcpcheck_lwip_data --rename-section .bss=tcpcheck_lwip_bss \
    "${counters[@]/#/--globalize-symbol=}" "$obj/lwip-all.o" "$obj/lwip.o"
symbols=$(nm "$obj/lwip.o")
for c in "${counters[@]}"; do
    grep -q " B $c\$" <<<"$symbols" || die "lwIP's $c is not where the harness expects it"
done
# Any other writable section would be state the reset misses.
other=$(readelf -SW "$obj/lwip.o" | awk '$0 ~ /\]/ { sub(/^.*\] /, ""); if ($7 ~ /W/ && $1 != "tcpcheck_lwip_data" && $1 != "tcpcheck_lwip_bss") print $1 }')
[ -z "$other" ] || die "lwIP has writable sections the reset would miss: $other"

"$cc" -std=c99 -O2 -g -fno-pie -no-pie -Wall -Wextra -I "$here" -I "$here/../c" -I "$src/src/include" \
    "$here/harness.c" "$here/../c/tcpcheck_stack.c" "$obj/lwip.o" -o "$out.tmp"
mv "$out.tmp" "$out"
say "built $out"
