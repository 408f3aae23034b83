#!/usr/bin/env bash
# `make test`: every test, in independent groups that run side by side (TEST_JOBS, default 2; 1 runs them one
# after the other). Each group is its own pytest session with its own stacks and images (E2E_TAG), logged to
# test-artifacts/test-<group>.log; the summary says how long each took and which failed. Exit 1 when any did.
#   service   unit and integration tests (the service as a process, against fakes, Redis)
#   stack     the compose stack over HTTPS: contract, edge, streaming, widget in Chromium, WordPress, make up...
#   deploy    the deploy rehearsal (registry + SSH), GCP setup, key rotation, Kubernetes manifests, Swarm
# Groups wait mostly on containers and browsers, not on the two cores: side by side they take about the time of
# the longest. Extra pytest arguments: PYTEST_ARGS="-x -k ..." make test.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

PY=${PY:-.venv/bin/python}
JOBS=${TEST_JOBS:-2}
ARTIFACTS=test-artifacts
mkdir -p "$ARTIFACTS"

declare -A PATHS=(
  [service]="tests/unit tests/integration tests/clients"
  [stack]="tests/e2e"
  [deploy]="tests/deploy"
)
# The longest first, so that two jobs finish together.
ORDER=(stack deploy service)
[[ -d tests/swarm ]] && PATHS[deploy]+=" tests/swarm"

run_group() { # name
  local name=$1 started rc
  started=$(date +%s)
  # shellcheck disable=SC2086  # the paths and extra arguments are word lists on purpose
  E2E_TAG="test-$name" "$PY" -m pytest -q -p no:cacheprovider ${PATHS[$name]} ${PYTEST_ARGS:-} \
    >"$ARTIFACTS/test-$name.log" 2>&1
  rc=$?
  echo "$name $rc $(( $(date +%s) - started ))" >>"$ARTIFACTS/test-summary.txt"
  return "$rc"
}

: >"$ARTIFACTS/test-summary.txt"
started=$(date +%s)
running=0
for name in "${ORDER[@]}"; do
  if (( running >= JOBS )); then wait -n; running=$((running - 1)); fi
  echo "test: $name (${PATHS[$name]}) -> $ARTIFACTS/test-$name.log"
  run_group "$name" &
  running=$((running + 1))
done
wait

failed=0
echo
while read -r name rc seconds; do
  summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|(passed|failed|error).* in [0-9.]+s' "$ARTIFACTS/test-$name.log" | tail -n 1)
  printf 'test: %-8s %s in %ss: %s\n' "$name" "$([[ $rc == 0 ]] && echo ok || echo FAILED)" "$seconds" "$summary"
  if [[ $rc != 0 ]]; then
    failed=1
    echo "----- $name: the end of its log -----"
    tail -n 80 "$ARTIFACTS/test-$name.log"
  fi
done <"$ARTIFACTS/test-summary.txt"
grep -h "SKIPPED the end-to-end" "$ARTIFACTS"/test-*.log | sort -u || true
echo "test: all groups in $(( $(date +%s) - started ))s"
exit "$failed"
