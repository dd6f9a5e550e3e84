#!/usr/bin/env bash
# Create .venv with a Python >= 3.12 and install fem_cell (+ dolfinx wheel, test tools).
# Idempotent: a second run only checks the stamp and exits in well under a second.
#
#   scripts/setup.sh            # uses .venv in the repository root
#   PYTHON=/path/to/python3.12 scripts/setup.sh   # force an interpreter
#   FEM_CELL_VENV=/some/dir scripts/setup.sh      # other venv location
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${FEM_CELL_VENV:-$root/.venv}
extras=${FEM_CELL_EXTRAS:-solver,test}

ok_version() {  # $1 = interpreter; true if it runs and is >= 3.12
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
  local c
  if [ -n "${PYTHON:-}" ]; then
    if ok_version "$PYTHON"; then echo "$PYTHON"; return 0; fi
    echo "setup: PYTHON=$PYTHON is not a working Python >= 3.12" >&2; return 1
  fi
  for c in python3.13 python3.12 python3 python; do
    if command -v "$c" >/dev/null 2>&1 && ok_version "$(command -v "$c")"; then
      command -v "$c"; return 0
    fi
  done
  local roots=()
  command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root 2>/dev/null)")
  roots+=("${PYENV_ROOT:-$HOME/.pyenv}" /root/.pyenv /opt/pyenv)
  for r in "${roots[@]}"; do
    [ -d "$r/versions" ] || continue
    for c in $(ls -d "$r"/versions/3.1[2-9]* 2>/dev/null | sort -rV); do
      if [ -x "$c/bin/python" ] && ok_version "$c/bin/python"; then echo "$c/bin/python"; return 0; fi
    done
  done
  for c in /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
    if [ -x "$c" ] && ok_version "$c"; then echo "$c"; return 0; fi
  done
  return 1
}

stamp_src=$(cat "$root/pyproject.toml" "$root/scripts/setup.sh" | sha256sum | cut -c1-16)-$extras
stamp="$venv/.fem_cell_setup_stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_src" ] && [ -x "$venv/bin/python" ] \
   && "$venv/bin/python" -c 'import fem_cell' >/dev/null 2>&1; then
  exit 0
fi

if [ ! -x "$venv/bin/python" ] || ! ok_version "$venv/bin/python"; then
  if ! py=$(find_python); then
    cat >&2 <<MSG
setup: ERROR: no Python >= 3.12 found.
  fem_cell needs Python >= 3.12 (the dolfinx 0.11 wheel requires it).
  Looked at: \$PYTHON, python3.13/python3.12/python3/python on PATH, pyenv versions, /usr/{local/,}bin.
  Install one (e.g. 'pyenv install 3.12') or point PYTHON=/path/to/python3.12 at it.
MSG
    exit 1
  fi
  echo "setup: creating $venv with $py ($("$py" --version 2>&1))"
  rm -rf "$venv"
  "$py" -m venv "$venv"
fi
echo "setup: installing fem_cell[$extras] into $venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e "$root[$extras]"
"$venv/bin/python" -c 'import fem_cell._dolfinx as d; print("setup: dolfinx", d.dolfinx.__version__, "ok")'
echo "$stamp_src" > "$stamp"
