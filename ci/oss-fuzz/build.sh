#!/bin/bash -eu
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 Google LLC
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
################################################################################
# projects/fdmsg/build.sh: the build lives in fdmsg's tree
# (ci/oss-fuzz/build-fuzzers.sh), shared with ClusterFuzzLite.
case ${1:-} in -h|--help) exec "$(dirname "$0")/build-fuzzers.sh" --help ;; esac
exec "$SRC/fdmsg/ci/oss-fuzz/build-fuzzers.sh"
