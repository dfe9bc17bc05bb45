#!/usr/bin/env bash
# The vendored files are what each vendor folder's README.md says they
# are (the web assets, and the tests' axe-core and Teams manifest schema):
# every file in the folder has a row there, and its sha256 is the one in
# that row (the table's first column is the file, its last the sum). A file
# changed, added or removed without its row fails CI.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

fail() { printf 'check-vendor: FAILED: %s\n' "$*" >&2; exit 1; }

check() {
cd "$root/$1"

# "| `file` | ... | `sum` |" rows -> "sum  file", as sha256sum --check reads.
listed=$(sed -nE 's/^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$/\2  \1/p' README.md)
[ -n "$listed" ] || fail "$1/README.md lists no files with a sha256"
sha256sum --check --quiet <<<"$listed" || fail "a vendored file in $1 differs from README.md's sha256"

on_disk=$(find . -type f ! -name README.md | sed 's|^\./||' | sort)
in_table=$(cut -d' ' -f3- <<<"$listed" | sort)
if [ "$on_disk" != "$in_table" ]; then
  diff <(printf '%s\n' "$in_table") <(printf '%s\n' "$on_disk") >&2 || true
  fail "$1 and its README.md's table name different files (< table, > disk)"
fi
printf 'check-vendor: %s vendored files in %s match its README.md\n' "$(wc -l <<<"$listed")" "$1" >&2
}

for folder in web/static/vendor tests/browser/vendor tests/vendor; do
  check "$folder"
done
