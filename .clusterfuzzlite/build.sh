#!/bin/bash -eu
# SPDX-License-Identifier: ISC
# The one build script, shared with OSS-Fuzz (its projects/fdmsg/build.sh
# is this same line).
exec "$SRC/fdmsg/ci/oss-fuzz/build-fuzzers.sh"
