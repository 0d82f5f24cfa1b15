#!/usr/bin/env bash
# Checks that every C++ file in the repository is formatted by the project's .clang-format; lists
# the files that drift and exits non-zero if any does. With --fix, formats them in place instead.
#
#   bash scripts/check-format.sh [--fix]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cc')
if [[ ${1:-} == --fix ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
drift=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || drift+=("$f")
done
if ((${#drift[@]})); then
  printf 'not formatted (bash scripts/check-format.sh --fix):\n' >&2
  printf '  %s\n' "${drift[@]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
