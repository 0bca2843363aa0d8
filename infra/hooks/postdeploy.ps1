# azd postdeploy hook (see azure.yaml), Windows twin of postdeploy.sh: second provisioning pass that
# creates the Event Grid event subscriptions once on_registry_write exists. Runs once per azd env.
$ErrorActionPreference = 'Stop'

if ($env:DEPLOY_EVENT_SUBSCRIPTIONS -eq 'true') {
    exit 0
}

Write-Host 'ACR Guard: code deployed; provisioning the Event Grid event subscriptions (second pass).'
azd env set DEPLOY_EVENT_SUBSCRIPTIONS true
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

# The Functions host indexes on_registry_write a little after the deployment completes; Event Grid
# answers "Destination endpoint not found" until then, so retry a few times before giving up.
for ($attempt = 1; $attempt -le 3; $attempt++) {
    azd provision --no-prompt
    if ($LASTEXITCODE -eq 0) { exit 0 }
    if ($attempt -lt 3) {
        Write-Host "ACR Guard: retrying in 60 s (attempt $($attempt + 1) of 3)."
        Start-Sleep -Seconds 60
    }
}
Write-Error 'ACR Guard: event subscriptions not created. Once the function shows up in the portal, run: azd provision'
exit 1
