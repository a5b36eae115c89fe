#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Every binary's --version: one line "NAME VERSION" (the dataplanes, the
# replay and edgelb-cp add "protocol N"), exit 0, and one VERSION for all,
# equal to `git describe --tags --always --dirty` of the source tree, or
# to the project version outside git (a tarball, a copy without .git).
# Run as nobody too where we are root: --version needs no privilege (for
# edgelb-dp: no EAL, no hugepages).
# usage: test_versions.sh SOURCE_ROOT PROJECT_VERSION BINARY...
set -u
src=$1 project_version=$2
shift 2
if ! want=$(git -C "$src" describe --tags --always --dirty 2>/dev/null); then
	want=$project_version
fi
fail=0
protocol=
nobody_dir=
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	nobody_dir=$(mktemp -d)
	chmod 755 "$nobody_dir"
	trap 'rm -rf "$nobody_dir"' EXIT
fi
for bin in "$@"; do
	name=$(basename "$bin")
	out=$("$bin" --version)
	rc=$?
	lines=$(printf '%s\n' "$out" | wc -l)
	read -r got_name got_version word number extra <<<"$out"
	if [ "$rc" -ne 0 ] || [ "$lines" -ne 1 ] || [ "$got_name" != "$name" ] ||
		[ "$got_version" != "$want" ] || [ -n "${extra:-}" ]; then
		echo "FAIL: $name --version: exit $rc, '$out' (want '$name $want')"
		fail=1
		continue
	fi
	case $name in
	edgelb-dp | edgelb-xdp | edgelb-cp | edgelb-replay)
		if [ "${word:-}" != protocol ] || ! [[ ${number:-} =~ ^[0-9]+$ ]]; then
			echo "FAIL: $name --version: '$out' has no 'protocol N'"
			fail=1
			continue
		fi
		if [ -n "$protocol" ] && [ "$number" != "$protocol" ]; then
			echo "FAIL: $name speaks protocol $number, another binary $protocol"
			fail=1
		fi
		protocol=$number
		;;
	*)
		if [ -n "${word:-}" ]; then
			echo "FAIL: $name --version: '$out' has more than NAME VERSION"
			fail=1
			continue
		fi
		;;
	esac
	if [ -n "$nobody_dir" ]; then
		# A copy where nobody can reach it (the build tree may be under a
		# directory closed to other users, as /root is).
		cp "$bin" "$nobody_dir/$name" && chmod 755 "$nobody_dir/$name"
		if ! as_nobody=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$nobody_dir/$name" --version 2>&1) ||
			[ "$as_nobody" != "$out" ]; then
			echo "FAIL: $name --version as nobody: '$as_nobody'"
			fail=1
			continue
		fi
	fi
	echo "ok: $out"
done
[ "$fail" -eq 0 ] && echo "all $# binaries: version $want"
exit $fail
