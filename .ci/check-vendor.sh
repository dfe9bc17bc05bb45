#!/usr/bin/env bash
# The vendored web assets are what web/static/vendor/README.md says they
# are: every file under web/static/vendor has a row there, and its sha256 is
# the one in that row (the table's first column is the file, its last the
# sum). A file changed, added or removed without its row fails CI.
set -euo pipefail
cd "$(dirname "$0")/../web/static/vendor"

fail() { printf 'check-vendor: FAILED: %s\n' "$*" >&2; exit 1; }

# "| `file` | ... | `sum` |" rows -> "sum  file", as sha256sum --check reads.
listed=$(sed -nE 's/^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$/\2  \1/p' README.md)
[ -n "$listed" ] || fail "README.md lists no files with a sha256"
sha256sum --check --quiet <<<"$listed" || fail "a vendored file differs from README.md's sha256"

on_disk=$(find . -type f ! -name README.md | sed 's|^\./||' | sort)
in_table=$(cut -d' ' -f3- <<<"$listed" | sort)
if [ "$on_disk" != "$in_table" ]; then
  diff <(printf '%s\n' "$in_table") <(printf '%s\n' "$on_disk") >&2 || true
  fail "web/static/vendor and README.md's table name different files (< table, > disk)"
fi
printf 'check-vendor: %s vendored files match README.md\n' "$(wc -l <<<"$listed")" >&2
