#!/bin/bash -eu
# The one build script, shared with OSS-Fuzz.
exec "$SRC/fdmsg/ci/oss-fuzz/build.sh"
