#!/bin/bash -eu
# Builds tcpcheck's cargo fuzz targets the way OSS-Fuzz and ClusterFuzzLite build Rust projects:
# `cargo fuzz build -O` in $SRC/tcpcheck, each target's binary copied to $OUT, with the seed
# corpora the repository keeps (fuzz/seeds/TARGET) as TARGET_seed_corpus.zip and the table
# parser's dictionary as model_parser.dict.
#
# Their builder images set $SRC, $OUT and $SANITIZER (address, memory, undefined, coverage) and
# bring a nightly toolchain; cargo fuzz picks the sanitizer up from there. SANITIZER=none builds
# without one on a stable toolchain: that is how CI runs this script, in a directory laid out
# as the builder's ($SRC/tcpcheck a checkout, $OUT empty).
#
# The Dockerfile those services also need is the standard one for a Rust project (FROM the
# OSS-Fuzz Rust base-builder image, COPY the checkout to $SRC/tcpcheck, COPY this script to $SRC);
# it is not kept here because it must name the image's registry.
cd "$SRC/tcpcheck/fuzz"

flags=(-O)
[ "${SANITIZER:-}" = none ] && flags+=(--sanitizer none)
cargo fuzz build "${flags[@]}"

triple=$(rustc -vV | sed -n 's/^host: //p')
for target in $(cargo fuzz list); do
    cp "target/$triple/release/$target" "$OUT/"
    if [ -d "seeds/$target" ] && [ -n "$(ls -A "seeds/$target")" ]; then
        (cd "seeds/$target" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
    fi
done
cp model_parser.dict "$OUT/model_parser.dict"
