#!/bin/sh
# azd prepackage hook of the api service (see azure.yaml): ship the app's own modules as compiled
# bytecode. A Function App runs from its package, read-only, so Python cannot cache what it compiles:
# without .pyc files in the package every cold start compiles acrguard/ and remediators/ again
# (about 10 ms on the benchmark machine, docs/BENCHMARKS.md). checked-hash .pyc files stay valid
# whatever mtimes the zip gives the sources, and are ignored if a source ever differs from them.
# Runs from the project root (the service's project directory). PYTHON: the interpreter to compile
# with; it must be the Function's Python version (3.11, infra/modules/function-app.bicep).
set -eu

py="${PYTHON:-python3.11}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; then
  # Bytecode of another version would be ignored by the Function's 3.11 (and only weigh the package).
  echo "ACR Guard: $py is not a Python 3.11; packaging without bytecode (each cold start compiles the app's modules)." >&2
  exit 0
fi
"$py" -m compileall -q -f -j 0 --invalidation-mode checked-hash function_app.py acrguard remediators
