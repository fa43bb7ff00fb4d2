# SPDX-License-Identifier: ISC
# Sourced by the ci/ scripts, never run: what they all do the same way.
#   . "$(dirname "$0")/lib.sh"     (before the script's own cd, if any)
# Sourcing it changes no directory and answers a first argument -h or
# --help with the script's usage: its leading comment block.
#   ci_usage [STATUS]            prints that block (on stderr when STATUS
#                                is not 0) and exits STATUS (default 0)
#   ci_install PACKAGE[=CMD]...  installs the Debian packages not installed
#                                yet; PACKAGE=CMD counts as there when CMD is
#                                on PATH; CI_NO_INSTALL=1 installs nothing
#   ci_configure DIR CC [OPT...] configures the meson build DIR with CC
#                                (empty: meson's choice) once: meson reads
#                                CC and the options only at the first setup
#   ci_workdir [DIR]             CI_WORK: DIR emptied (made absolute), or a
#                                temporary directory removed at exit
# CI_NAME is the script's name as its messages give it (ci/test).

CI_NAME=$0
case $CI_NAME in
*/ci/*) CI_NAME=ci/${CI_NAME##*/ci/} ;;
esac

ci_usage() {
	local st=${1:-0}
	# Line 1 is the #! line; SPDX tags are not usage.
	awk 'NR == 1 { next } !/^#/ { exit } /SPDX-License-Identifier/ { next }
		{ sub(/^# ?/, ""); print }' "$0" |
		if [ "$st" -eq 0 ]; then cat; else cat >&2; fi
	exit "$st"
}

ci_install() {
	local p cmd missing=() sudo=
	for p in "$@"; do
		cmd=
		case $p in *=*) cmd=${p#*=}; p=${p%%=*} ;; esac
		[ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1 && continue
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ -n "${CI_NO_INSTALL:-}" ]; then
		echo "$CI_NAME: missing (CI_NO_INSTALL set): ${missing[*]}" >&2
		return 0
	fi
	echo "$CI_NAME: installing ${missing[*]}"
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	$sudo apt-get update -qq &&
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null ||
		{ echo "$CI_NAME: apt-get install ${missing[*]} failed" >&2; exit 2; }
}

ci_configure() {
	local dir=$1 cc=$2 out st
	shift 2
	[ -f "$dir/build.ninja" ] && return 0
	out=$(env ${cc:+CC="$cc"} meson setup "$dir" "$@" 2>&1)
	st=$?
	[ $st -eq 0 ] && return 0
	printf '%s\n' "$out" | tail -30 >&2
	echo "$CI_NAME: meson setup $dir failed" >&2
	return 1
}

ci_workdir() {
	if [ $# -eq 1 ]; then
		rm -rf "$1" && mkdir -p "$1" || exit 2
		CI_WORK=$(cd "$1" && pwd)
	else
		CI_WORK=$(mktemp -d) || exit 2
		trap 'rm -rf "$CI_WORK"' EXIT
	fi
}

case ${1:-} in
-h|--help) ci_usage 0 ;;
esac
