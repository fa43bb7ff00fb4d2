#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build: runs in the base-builder image (or
# locally through ci/oss-fuzz/local-check) with $CC $CXX $CFLAGS $CXXFLAGS
# $LIB_FUZZING_ENGINE $OUT $WORK set by the infrastructure.  Builds every
# fuzz target with the engine's link flags (fuzz_engine=custom), links
# with $CXX, and puts next to each binary its seed corpus zip, dictionary
# and options.
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

# Every fuzz/<name>.c that fuzz/meson.build builds.
known=$(ninja -C "$build" -t targets all | sed -n 's|^fuzz/\([A-Za-z0-9_-]*\): .*|\1|p' | sort -u)
fuzzers=()
for f in fuzz/*.c; do
	name=$(basename "$f" .c)
	[ "$name" = standalone_main ] && continue
	grep -qx "$name" <<<"$known" && fuzzers+=("$name")
done
[ ${#fuzzers[@]} -gt 0 ] || { echo "no fuzz targets"; exit 1; }
ninja -v -j"$(nproc)" -C "$build" "${fuzzers[@]/#/fuzz/}"

for fuzzer in "${fuzzers[@]}"; do
	cp "$build/fuzz/$fuzzer" "$OUT/"
	rm -f "$OUT/${fuzzer}_seed_corpus.zip"
	# Seeds and merged finds; crash-* regressions stay out (they belong
	# to the meson corpus replay, and would stop every fuzzing run).
	if [ -d "corpus/$fuzzer" ]; then
		(cd "corpus/$fuzzer" &&
		 find . -maxdepth 1 -type f ! -name 'crash-*' ! -name 'leak-*' \
			! -name 'timeout-*' ! -name 'oom-*' -printf '%f\n' |
		 sort | zip -q -j "$OUT/${fuzzer}_seed_corpus.zip" -@) || true
	fi
	[ -f "fuzz/$fuzzer.dict" ] && cp "fuzz/$fuzzer.dict" "$OUT/"
	[ -f "fuzz/$fuzzer.options" ] && cp "fuzz/$fuzzer.options" "$OUT/"
done
echo "built: ${fuzzers[*]}"
