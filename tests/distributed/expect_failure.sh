#!/usr/bin/env bash
# expect_failure.sh SECONDS REGEX COMMAND...
# Passes when COMMAND exits non-zero within SECONDS and, unless REGEX is empty, a line of its
# stderr matches REGEX (grep -E). A command still running after SECONDS is killed and fails the
# test: that is a hang.
set -uo pipefail
limit=$1 regex=$2
shift 2
err=$(mktemp)
trap 'rm -f "$err"' EXIT
start=$SECONDS
timeout --kill-after=5 "$limit" "$@" 2>"$err" >/dev/null
code=$?
elapsed=$((SECONDS - start))
cat "$err" >&2
# timeout exits 124 (or 137 after --kill-after); mpirun itself may exit 137 for a killed rank.
if ((code == 124 || (code == 137 && elapsed >= limit))); then
  echo "FAILED: still running after ${limit}s (a hang)" >&2
  exit 1
fi
if ((code == 0)); then
  echo "FAILED: exited 0, expected a failure" >&2
  exit 1
fi
if [[ -n "$regex" ]] && ! grep -Eq -- "$regex" "$err"; then
  echo "FAILED: no line of stderr matches: $regex" >&2
  exit 1
fi
echo "ok: exit code $code after ${elapsed}s"
