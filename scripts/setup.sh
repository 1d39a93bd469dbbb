#!/usr/bin/env bash
# Installs what the tests need beyond npm packages, and does nothing for what is already there:
# redis-server (Debian package; several gateway replicas share it) and the pinned k6 (built with
# `go install`). Runs as npm's `pretest`, so `npm install && npm test` works on a fresh machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "setup: installing redis-server (Debian package)"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
  # The tests start their own redis-server on loopback; the distribution's service is not needed.
fi

bash scripts/install-k6.sh
