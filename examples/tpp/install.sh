#!/usr/bin/env bash
# Installs the JWT libraries the TPP recipes use into git-ignored folders under target/, so
# `cargo test --test recipes` can run them: PyJWT and jwcrypto for Python, jose for Node.
# The example bank (examples/bank/python/bank.py) runs with the same PyJWT and its
# `cryptography`: PYTHONPATH=target/py-recipes.
# Skips a language whose interpreter is missing (the test then says so, and fails under CI).
# Runs from any directory; a second run finds the pinned versions already there and does little.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY_DIR=target/py-recipes
JS_DIR=target/js-recipes
PYJWT='pyjwt[crypto]==2.15.*'
JWCRYPTO='jwcrypto==1.6.*'
JOSE='jose@6'

if command -v python3 >/dev/null 2>&1; then
  if PYTHONPATH="$PY_DIR" python3 -c 'import sys, importlib.metadata as m, jwt, jwcrypto
sys.exit(not (m.version("pyjwt").startswith("2.15.") and m.version("jwcrypto").startswith("1.6.")))' 2>/dev/null; then
    echo "recipes: PyJWT and jwcrypto already in $PY_DIR"
  else
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --upgrade --target "$PY_DIR" "$PYJWT" "$JWCRYPTO"
    echo "recipes: installed PyJWT and jwcrypto into $PY_DIR"
  fi
else
  echo "recipes: python3 not found, Python recipes not installed" >&2
fi

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  if [ -f "$JS_DIR/node_modules/jose/package.json" ] &&
     node -e 'process.exit(require(process.argv[1]).version.startsWith("6.") ? 0 : 1)' "$PWD/$JS_DIR/node_modules/jose/package.json"; then
    echo "recipes: jose already in $JS_DIR"
  else
    mkdir -p "$JS_DIR"
    npm install --silent --no-audit --no-fund --prefix "$JS_DIR" "$JOSE"
    echo "recipes: installed jose into $JS_DIR"
  fi
else
  echo "recipes: node or npm not found, JavaScript recipe not installed" >&2
fi
