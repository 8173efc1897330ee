#!/usr/bin/env bash
# The browser tests (admin, Flower) drive Debian's Chromium through Playwright: `make test` and .ci/run call this first.
# Chromium found (CHROMIUM_PATH, chromium or chromium-browser): nothing to do. Otherwise, as root with apt-get, install
# Debian's package; anyone else is told in one sentence how to get it.
set -euo pipefail

have_chromium() {
  [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ] && return 0
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}

have_chromium && exit 0
if [ "$EUID" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (browser tests)"
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
    have_chromium && exit 0
  fi
fi
echo "The browser tests need Chromium: install it with \`sudo apt-get install chromium\` (or set CHROMIUM_PATH to a" \
  "Chromium binary) and run \`make test\` again." >&2
exit 1
