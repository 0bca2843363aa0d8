# azd prepackage hook of the api service (see azure.yaml), Windows twin of prepackage.sh: ship the
# app's own modules as checked-hash bytecode, because a Function App runs from its read-only package
# and would otherwise compile them on every cold start. $env:PYTHON: the interpreter to compile with
# (it must be the Function's Python version, 3.11); by default the launcher's `py -3.11`.
$ErrorActionPreference = 'Stop'

if ($env:PYTHON) { $cmd = $env:PYTHON; $pre = @() } else { $cmd = 'py'; $pre = @('-3.11') }
try {
    & $cmd @pre -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>$null
    $usable = ($LASTEXITCODE -eq 0)
} catch {
    $usable = $false
}
if (-not $usable) {
    Write-Warning "ACR Guard: no Python 3.11 ($cmd $pre); packaging without bytecode (each cold start compiles the app's modules)."
    exit 0
}
& $cmd @pre -m compileall -q -f -j 0 --invalidation-mode checked-hash function_app.py acrguard remediators
exit $LASTEXITCODE
