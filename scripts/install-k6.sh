#!/usr/bin/env bash
# Installs the pinned k6 into .ci/bin (git-ignored) with `go install`.
# A no-op when .ci/bin/k6 already reports the pinned version, so CI and
# setup can call it every time. Override the folder with K6_BIN_DIR.
set -euo pipefail

K6_VERSION="v1.8.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${K6_BIN_DIR:-$ROOT/.ci/bin}"
K6="$BIN_DIR/k6"

if [[ -x "$K6" ]] && "$K6" version 2>/dev/null | grep -q "k6 ${K6_VERSION} "; then
  echo "k6 ${K6_VERSION} already at $K6"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-k6: Go is required (go install go.k6.io/k6@${K6_VERSION}); install Go >= 1.25 first" >&2
  exit 1
fi

mkdir -p "$BIN_DIR"
echo "building k6 ${K6_VERSION} into $BIN_DIR (takes a few minutes on 2 cores)"
# CGO off: a static binary that runs on any glibc/musl host and in CI.
CGO_ENABLED=0 GOBIN="$BIN_DIR" go install "go.k6.io/k6@${K6_VERSION}"
"$K6" version
