#!/usr/bin/env bash
# CI: the smoke profile of every load scenario against the local platform, each on a topology
# that serves it. Starts each topology, runs its scenarios with `npm run load -- --strict`, stops
# it (also on failure), and exits non-zero when any scenario failed.
# Two gateway replicas on a redis store where it matters: chat-ramp sends each turn to the other
# replica, and with a 1 s idle timeout every session is also detached and resumed mid-way, so its
# history check covers resumes; room posts arrive through both replicas, so only the shared room
# lock keeps the room's turns linear (one replica alone serialises them in-process).
# Reports: reports/load/<scenario>-smoke/{summary.json,junit.xml}.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
RUN_DIR="${LOAD_CI_DIR:-$ROOT/.local/load-ci}"
REPORT="${LOAD_CI_REPORT:-reports/load}"
mkdir -p "$RUN_DIR"

# topology | `local up` flags | scenarios
PLAN=(
  "shared|--gateways 2 --store redis --idle-timeout 1|chat-ramp,ephemeral-burst,soak"
  "collaborative|--gateways 2 --store redis|room-contention"
  "sticky|--servers 3|sticky-spread"
)

scripts/install-k6.sh || exit 1

local_cli() { node --import tsx local/cli.ts "$@"; }
failed=()
current=""
stop_current() {
  if [[ -n "$current" ]]; then
    local_cli down --target-file "$current" || true
    current=""
  fi
}
trap stop_current EXIT INT TERM

for entry in "${PLAN[@]}"; do
  IFS="|" read -r topology flags scenarios <<<"$entry"
  target="$RUN_DIR/$topology.json"
  echo "== load smoke: $scenarios on local $topology"
  # shellcheck disable=SC2086 # flags is a word list
  if ! local_cli up --topology "$topology" $flags --target-file "$target" --run-dir "$RUN_DIR/run-$topology" --detach; then
    failed+=("$topology: local platform did not start")
    continue
  fi
  current="$target"
  if ! node --import tsx scripts/load/run.ts --target "$target" --scenario "$scenarios" --profile smoke --report "$REPORT" --strict; then
    failed+=("$topology: $scenarios")
  fi
  stop_current
done

if ((${#failed[@]})); then
  printf 'load smoke FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "load smoke passed: every scenario's thresholds and invariants held"
