#!/usr/bin/env bash
# Fails when the committed completions/ or man/ differ from what the current code generates.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cargo run --quiet --locked -- generate-docs "$tmp"

stale=0
for dir in completions man; do
    if [ ! -d "$dir" ]; then
        echo "error: \`$dir/\` is missing" >&2
        stale=1
    elif ! diff -r -u "$dir" "$tmp/$dir"; then
        stale=1
    fi
done

if [ "$stale" -ne 0 ]; then
    cat >&2 <<'MSG'

error: the committed completions/ or man/ are out of date with the command line (diff above).
Regenerate them from the repository root and commit the result:

    cargo run -- generate-docs .

and delete any file the diff reports as "Only in completions" or "Only in man".
MSG
    exit 1
fi
echo "completions/ and man/ are up to date"
