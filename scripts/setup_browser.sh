#!/usr/bin/env bash
# A headless browser for the report's browser test (tests/system/test_reproduce.py):
# Debian's chromium, installed with apt when this runs as root and it is missing.
# Never downloads a browser build from elsewhere.  Idempotent; never fails the caller:
# without a browser the test is skipped and says why.
#
#   scripts/setup_browser.sh          # FEM_CELL_BROWSER=/path/to/chromium to use another
set -uo pipefail
for b in "${FEM_CELL_BROWSER:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
  if [ -n "$b" ] && [ -x "$b" ]; then exit 0; fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian's chromium for the browser test (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q chromium >/tmp/fem_cell_apt.log 2>&1; then
    apt-get update -q >>/tmp/fem_cell_apt.log 2>&1 \
      && apt-get install -y -q chromium >>/tmp/fem_cell_apt.log 2>&1 \
      || echo "setup: could not install chromium (see /tmp/fem_cell_apt.log); the browser test will be skipped"
  fi
else
  echo "setup: no chromium and no root apt-get: the browser test will be skipped (install Debian's chromium, or set FEM_CELL_BROWSER)"
fi
exit 0
