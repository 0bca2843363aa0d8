#!/bin/sh
# azd postdeploy hook (see azure.yaml): second provisioning pass that creates the Event Grid event
# subscriptions, now that the on_registry_write function exists. Runs once per azd environment.
set -eu

if [ "${DEPLOY_EVENT_SUBSCRIPTIONS:-false}" = "true" ]; then
  exit 0
fi

echo "ACR Guard: code deployed; provisioning the Event Grid event subscriptions (second pass)."
azd env set DEPLOY_EVENT_SUBSCRIPTIONS true

# The Functions host indexes on_registry_write a little after the deployment completes; Event Grid
# answers "Destination endpoint not found" until then, so retry a few times before giving up.
attempt=1
until azd provision --no-prompt; do
  if [ "$attempt" -ge 3 ]; then
    echo "ACR Guard: event subscriptions not created. Once the function shows up in the portal, run: azd provision" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  echo "ACR Guard: retrying in 60 s (attempt $attempt of 3)."
  sleep 60
done
