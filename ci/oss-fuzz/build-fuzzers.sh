#!/bin/bash -eu
# SPDX-License-Identifier: ISC
# OSS-Fuzz / ClusterFuzzLite build: runs in the base-builder image (or
# locally through ci/oss-fuzz/local-check) with $CC $CXX $CFLAGS $CXXFLAGS
# $LIB_FUZZING_ENGINE $SANITIZER $OUT $WORK set by the infrastructure.
# OSS-Fuzz's projects/fdmsg/build.sh and .clusterfuzzlite/build.sh are one
# line that runs this.  Builds every fuzz target with the engine's link
# flags (fuzz_engine=custom), links with $CXX, and puts next to each
# binary its seed corpus zip (seeds, merged finds and the crash-*
# regressions), dictionary and options.
set -o pipefail
. "$(dirname "$0")/../lib.sh"
# The source tree: the working directory in the builder image (WORKDIR,
# where $SRC/build.sh runs), else the tree this script sits in.
if [ -f fuzz/meson.build ] && [ -f meson_options.txt ]; then
	SRC_DIR=$PWD
else
	SRC_DIR=$(cd "$(dirname "$0")/../.." && pwd)
fi
cd "$SRC_DIR"
: "${WORK:=$SRC_DIR/build-ossfuzz-work}" "${OUT:=$SRC_DIR/build-ossfuzz-out}"
: "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}"
mkdir -p "$WORK" "$OUT"

# OSS-Fuzz's undefined-behaviour flags leave out pointer-overflow (NULL
# plus an offset: corpus/roundtrip/crash-chan-q_append-null-plus-offset)
# and alignment; both are added, fatal like the rest.
if [ "${SANITIZER:-}" = undefined ]; then
	extra="-fsanitize=pointer-overflow,alignment -fno-sanitize-recover=pointer-overflow,alignment"
	export CFLAGS="${CFLAGS:-} $extra" CXXFLAGS="${CXXFLAGS:-} $extra"
fi
build="$WORK/build"
rm -rf "$build"  # meson reads CFLAGS only at the first setup

# The sanitizers and coverage flags are in $CFLAGS already (meson passes
# them to the link too): keep b_sanitize=none.
if ! meson setup "$build" --buildtype=plain --default-library=static \
	--wrap-mode=nodownload -Db_lundef=false -Dtests=disabled \
	-Dfuzz_engine=custom -Dfuzz_ldflags="$LIB_FUZZING_ENGINE" \
	-Dfuzz_link_cxx=true; then
	cat "$build/meson-logs/meson-log.txt"
	exit 1
fi

# Every fuzz target the build defines (fuzz/<name> executables).
mapfile -t fuzzers < <(ninja -C "$build" -t targets all |
	sed -n 's|^fuzz/\([A-Za-z0-9_-]*\): .*|\1|p' | sort -u)
[ ${#fuzzers[@]} -gt 0 ] || { echo "no fuzz targets"; exit 1; }
ninja -v -j"$(nproc)" -C "$build" "${fuzzers[@]/#/fuzz/}"

for fuzzer in "${fuzzers[@]}"; do
	cp "$build/fuzz/$fuzzer" "$OUT/"
	rm -f "$OUT/${fuzzer}_seed_corpus.zip"
	# Everything in corpus/<fuzzer>/, the crash-* regressions too (fixed
	# bugs: a fuzzer that crashes on one is a regression found at once).
	# A failed zip fails the build.
	if [ -d "corpus/$fuzzer" ]; then
		if ! (cd "corpus/$fuzzer" &&
		      find . -maxdepth 1 -type f -printf '%f\n' | LC_ALL=C sort |
		      zip -q -X "$OUT/${fuzzer}_seed_corpus.zip" -@); then
			echo "build-fuzzers: zip of corpus/$fuzzer failed" >&2
			exit 1
		fi
	fi
	[ -f "fuzz/$fuzzer.dict" ] && cp "fuzz/$fuzzer.dict" "$OUT/"
	[ -f "fuzz/$fuzzer.options" ] && cp "fuzz/$fuzzer.options" "$OUT/"
done
echo "built: ${fuzzers[*]}"
