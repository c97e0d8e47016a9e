#!/usr/bin/env bash
# Print the path of a Python interpreter >= 3.12 (and < 3.14), or fail with a message.
# Order: $PYTHON, python3.12/python3.13 on PATH, python3, then pyenv-installed versions.
set -u
ok() { "$1" -c 'import sys; raise SystemExit(0 if (3, 12) <= sys.version_info[:2] < (3, 14) else 1)' >/dev/null 2>&1; }
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
candidates+=(python3.12 python3.13 python3)
for root in "${PYENV_ROOT:-$HOME/.pyenv}" /usr/local /opt; do
  for p in "$root"/versions/3.12*/bin/python3 "$root"/versions/3.13*/bin/python3; do
    [ -x "$p" ] && candidates+=("$p")
  done
done
for c in "${candidates[@]}"; do
  path=$(command -v "$c" 2>/dev/null) || continue
  if ok "$path"; then
    # pyenv shims resolve lazily; print the real interpreter
    "$path" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
echo "error: no Python 3.12 or 3.13 found (set PYTHON=/path/to/python3.12)" >&2
exit 1
