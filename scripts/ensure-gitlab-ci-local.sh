#!/usr/bin/env bash
# Put gitlab-ci-local of a known version in .tools/gitlab-ci-local and print its path.
#
# `make ci-local` and tests/ci run lint, test and compile of .gitlab-ci.yml with it (its
# shell executor). It comes from npm, pinned; npm checks the package's integrity hash;
# Debian's rsync, which it needs, is installed when missing.
# 4.73.0 is the newest release that runs on Node.js 20 (later ones need Node.js 22).
# Idempotent: nothing is fetched when the pinned version is there.
set -euo pipefail

VERSION="4.73.0"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="$ROOT/.tools/gitlab-ci-local"
BIN="$PREFIX/node_modules/.bin/gitlab-ci-local"

# It copies the tracked files with rsync before running jobs.
if ! command -v rsync >/dev/null 2>&1; then
    bash "$ROOT/scripts/apt-install.sh" rsync
fi
if [[ -x "$BIN" && "$("$BIN" --version 2>/dev/null)" == "$VERSION" ]]; then
    echo "$BIN"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "ensure-gitlab-ci-local: npm is needed to install gitlab-ci-local@$VERSION;" \
        "install Node.js 20 or later" >&2
    exit 1
fi
echo "ensure-gitlab-ci-local: installing gitlab-ci-local@$VERSION into $PREFIX" >&2
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --silent "gitlab-ci-local@$VERSION" >&2
if [[ "$("$BIN" --version 2>/dev/null)" != "$VERSION" ]]; then
    echo "ensure-gitlab-ci-local: $BIN does not run or is not $VERSION (Node.js" \
        "$(node --version 2>/dev/null || echo missing))" >&2
    exit 1
fi
echo "$BIN"
