#!/bin/sh
# Fails if the shared object needs a glibc symbol version newer than $2 (e.g. 2.17), so the glibc
# build keeps loading on images with an older glibc than the build machine's.
set -eu
so=$1
max=$2
newest=$(objdump -T "$so" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -u -V | tail -n 1)
if [ -z "$newest" ]; then
	echo "check-glibc-versions: no GLIBC versions found in $so" >&2
	exit 1
fi
if [ "$(printf '%s\n%s\n' "$max" "$newest" | sort -V | tail -n 1)" != "$max" ]; then
	echo "check-glibc-versions: $so needs GLIBC_$newest (> $max):" >&2
	objdump -T "$so" | grep -E "GLIBC_$newest\b" >&2
	exit 1
fi
echo "check-glibc-versions: $so needs at most GLIBC_$newest"
