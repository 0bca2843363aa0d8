// ACR Guard: the whole deployment, azd-compatible (`azd up`) and usable with
// `az deployment sub create` alike.
//
// Subscription scope because the service spans subscriptions: it creates its own resource group
// here, and in every target subscription a least-privilege custom role, its assignment and an
// Event Grid system topic that forwards registry writes to the function.
//
// Bicep cannot be compiled in this repository's CI (its CLI is a downloaded binary): the
// templates stay deliberately conventional, checkov and pycep check them offline
// (tests/infra/test_infra.py), and `az bicep build --file infra/main.bicep` is the first thing to run
// on a machine that has the CLI.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; seeds resource names and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Azure region of the resource group, the Function App (a region that offers Flex Consumption), storage and monitoring.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Name of the resource group to create in each subscription; empty means rg-acrguard-<environmentName>.')
param resourceGroupName string = ''

@description('Subscriptions ACR Guard watches and may remediate. Each gets the custom role, its assignment, a system topic and the event subscription. Keep policies.yaml scope.subscriptions in step.')
param targetSubscriptionIds array = [
  subscription().subscriptionId
]

// The rule names are generated from remediators/<name>.json by `make generate`.
@allowed([
  'admin_user'
  'anonymous_pull'
  'arm_audience_tokens'
  'cache_rules'
  'customer_managed_key'
  'diagnostic_settings'
  'export_policy'
  'firewall_unavailable'
  'geo_replication'
  'network_rules'
  'private_link'
  'public_network_access'
  'quarantine'
  'repository_tokens'
  'retention'
  'sku_private_link'
  'zone_redundancy'
])
@description('Rules policies.yaml enables anywhere (base rules or overrides); `python -m acrguard.contract --enabled-rules policies.yaml` prints the value. The custom role grants exactly their RBAC actions and the Event Grid filter passes exactly their operations (acrguard/azure_contract.json).')
param enabledRules array

@allowed([
  'dry-run'
  'enforce'
  ''
])
@description('ACRGUARD_MODE. dry-run (the default on first deploy) forces plan-and-notify everywhere; enforce lets rules write unless policies.yaml keeps one in dry-run; empty defers to policies.yaml.')
param acrguardMode string = 'dry-run'

@description('Create the Event Grid event subscriptions. They need the on_registry_write function to exist, i.e. code deployed: false for the very first provision, true afterwards (the azd postdeploy hook flips it).')
param deployEventSubscriptions bool = false

@description('ACRGUARD_RECONCILE_SCHEDULE: NCRONTAB schedule of the reconcile timer (missed events, old drift).')
param reconcileSchedule string = '0 0 */6 * * *'

@allowed([
  'list'
  'arg'
])
@description('ACRGUARD_RECONCILE_SOURCE: where the timer finds registries. list pages each subscription of policies.yaml; arg asks Azure Resource Graph (management-group onboarding: policies.yaml lists no subscriptions).')
param reconcileSource string = 'list'

@description('ACRGUARD_RETRY_BUDGET_S: total seconds one ARM operation may spend retrying (a number; the app refuses a value out of range at start).')
param retryBudgetS string = '60'

@minValue(1)
@maxValue(20)
@description('ACRGUARD_MAX_ATTEMPTS: upper bound on attempts per ARM operation.')
param maxAttempts int = 6

@description('ACRGUARD_HTTP_TIMEOUT_S: read timeout of one ARM request, in seconds.')
param httpTimeoutS string = '20'

@minValue(1)
@maxValue(64)
@description('ACRGUARD_SWEEP_CONCURRENCY: concurrent writes during a reconcile.')
param sweepConcurrency int = 8

@description('ACRGUARD_SETTLE_S: seconds a registry must be unchanged before a PATCH that replaces its IP rule list (0 turns the wait off).')
param settleS string = '5'

@secure()
@description('ACRGUARD_NOTIFY_WEBHOOK_URL. Teams/Slack webhook URLs embed a token, hence secure: it is stored in Key Vault and the app setting is a Key Vault reference. Empty disables the webhook sink.')
param notifyWebhookUrl string = ''

@allowed([
  'json'
  'teams'
  'slack'
])
@description('ACRGUARD_NOTIFY_WEBHOOK_FORMAT: payload shape for the webhook sink.')
param notifyWebhookFormat string = 'json'

@description('ACRGUARD_NOTIFY_EVENTGRID_ENDPOINT: Event Grid custom topic endpoint for notifications; empty disables it. Grant the function identity "EventGrid Data Sender" on that topic.')
param notifyEventGridEndpoint string = ''

@description('ACRGUARD_NOTIFY_ON_FAILED: also notify failed decisions.')
param notifyOnFailed bool = false

@minValue(1)
@maxValue(1000)
@description('Flex Consumption maximumInstanceCount. A low ceiling also bounds how hard ACR Guard can hit ARM throttling limits.')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption instance memory in MB.')
param instanceMemoryMB int = 2048

@minValue(30)
@maxValue(730)
@description('Log Analytics retention in days for the audit trail.')
param logRetentionInDays int = 90

@description('Log Analytics workspaces the diagnostic_settings rule sends to (`python -m acrguard.contract --diagnostic-workspaces policies.yaml` prints them). The function identity gets the workspace actions on each of these workspaces only, in whatever subscription.')
param diagnosticWorkspaceIds array = []

@description('Optional object ID of an operator (azd fills in AZURE_PRINCIPAL_ID, the signed-in user) allowed to read and delete dead letters for `acrguard replay`. Empty grants nothing.')
param operatorPrincipalId string = ''

@description('E-mail addresses, comma-separated, that ACR Guard\'s alerts notify (docs/DEPLOY.md, Alerts). Empty: no e-mail; the alerts still show in Azure Monitor.')
param alertEmails string = ''

@secure()
@description('Webhook that receives ACR Guard\'s alerts in the common alert schema (an incident tool\'s, say). Such URLs embed a token, hence secure. Empty: none.')
param alertWebhookUrl string = ''

@minValue(1)
@description('The exposure alert fires when the 95th percentile, over an hour, of the time from a person\'s write to its fix is above this many seconds.')
param alertExposureP95ThresholdS int = 60

@minValue(1)
@maxValue(48)
@description('The no-reconcile alert fires when no reconcile completed for this many hours: keep it twice the interval of reconcileSchedule (12 for the default, every 6 hours).')
param alertReconcileSilenceHours int = 12

@description('Extra tags for every resource.')
param tags object = {}

// uniqueString keeps global names (storage, the function host name) stable per
// subscription + environment + region, so redeploys update rather than duplicate.
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var allTags = union(tags, {
  'azd-env-name': environmentName
})
var rgName = !empty(resourceGroupName) ? resourceGroupName : 'rg-acrguard-${environmentName}'
var functionAppName = 'func-acrguard-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: rgName
  location: location
  tags: allTags
}

module identity 'modules/identity.bicep' = {
  name: 'acrguard-identity'
  scope: rg
  params: {
    name: 'id-acrguard-${resourceToken}'
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'acrguard-monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-acrguard-${resourceToken}'
    applicationInsightsName: 'appi-acrguard-${resourceToken}'
    location: location
    tags: allTags
    retentionInDays: logRetentionInDays
    publisherPrincipalId: identity.outputs.principalId
  }
}

// Holds the notify webhook URL, when one is given; the app reads it through a Key Vault reference.
module keyVault 'modules/key-vault.bicep' = if (!empty(notifyWebhookUrl)) {
  name: 'acrguard-key-vault'
  scope: rg
  params: {
    name: 'kv-acrg-${resourceToken}'
    location: location
    tags: allTags
    notifyWebhookUrl: notifyWebhookUrl
    readerPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'acrguard-storage'
  scope: rg
  params: {
    name: 'stacrguard${resourceToken}'
    location: location
    tags: allTags
    hostPrincipalId: identity.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
  }
}

// Reading storage/monitoring/key vault outputs makes this wait for those modules, role assignments
// included, so the host can reach its storage, telemetry and webhook secret from its very first start.
module functionApp 'modules/function-app.bicep' = {
  name: 'acrguard-function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-acrguard-${resourceToken}'
    location: location
    tags: allTags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    leaseContainerUrl: storage.outputs.leaseContainerUrl
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    acrguardMode: acrguardMode
    reconcileSchedule: reconcileSchedule
    reconcileSource: reconcileSource
    retryBudgetS: retryBudgetS
    maxAttempts: maxAttempts
    httpTimeoutS: httpTimeoutS
    sweepConcurrency: sweepConcurrency
    settleS: settleS
    notifyWebhookSecretUri: empty(notifyWebhookUrl) ? '' : keyVault.outputs.webhookSecretUri
    notifyWebhookFormat: notifyWebhookFormat
    notifyEventGridEndpoint: notifyEventGridEndpoint
    notifyOnFailed: notifyOnFailed
  }
}

// One subscription-scope deployment per watched subscription: role, assignment, system topic,
// dead-letter access and (once the code is deployed) the event subscription.
module targets 'modules/target-subscription.bicep' = [for subscriptionId in targetSubscriptionIds: {
  name: 'acrguard-target-${uniqueString(environmentName, subscriptionId)}'
  scope: subscription(subscriptionId)
  params: {
    environmentName: environmentName
    resourceGroupName: rgName
    location: location
    tags: allTags
    principalId: identity.outputs.principalId
    functionAppId: functionApp.outputs.id
    deadLetterSubscriptionId: subscription().subscriptionId
    deadLetterResourceGroupName: rg.name
    deadLetterStorageAccountName: storage.outputs.name
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    deployEventSubscription: deployEventSubscriptions
    enabledRules: enabledRules
  }
}]

// Alert rules on the audit trail and the app's telemetry, and the workbook (docs/DEPLOY.md, Alerts).
module alerts 'modules/alerts.bicep' = {
  name: 'acrguard-alerts'
  scope: rg
  params: {
    namePrefix: 'acrguard-${environmentName}'
    location: location
    tags: allTags
    workspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    storageAccountName: storage.outputs.name
    alertEmails: empty(alertEmails) ? [] : split(alertEmails, ',')
    alertWebhookUrl: alertWebhookUrl
    exposureP95ThresholdS: alertExposureP95ThresholdS
    reconcileSilenceHours: alertReconcileSilenceHours
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'acrguard-workbook'
  scope: rg
  params: {
    location: location
    tags: allTags
    workspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

// The diagnostic_settings rule's workspace actions, on each workspace it sends to and nowhere else
// (a workspace in another subscription or resource group too).
module workspaceAccess 'modules/workspace-access.bicep' = [for workspaceId in diagnosticWorkspaceIds: {
  name: 'acrguard-workspace-${uniqueString(workspaceId, environmentName)}'
  scope: resourceGroup(split(workspaceId, '/')[2], split(workspaceId, '/')[4])
  params: {
    environmentName: environmentName
    workspaceName: last(split(workspaceId, '/'))
    principalId: identity.outputs.principalId
  }
}]

// azd writes these outputs into .azure/<env>/.env; DEPLOY.md and the hooks read them.
// The same value azd keeps as AZURE_ENV_NAME; an output too, so `az deployment sub show` has it.
output AZURE_ENV_NAME string = environmentName
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_ID string = functionApp.outputs.id
output AZURE_FUNCTION_IDENTITY_ID string = identity.outputs.id
output AZURE_FUNCTION_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
// The dead-letter account, which infra/management-group.bicep takes as deadLetterStorageAccountId.
output AZURE_STORAGE_ACCOUNT_ID string = storage.outputs.id
output DEADLETTER_CONTAINER_URL string = storage.outputs.deadLetterContainerUrl
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output LOG_ANALYTICS_WORKSPACE_ID string = monitoring.outputs.logAnalyticsWorkspaceId
output TARGET_SUBSCRIPTION_IDS array = targetSubscriptionIds
output EVENT_SUBSCRIPTIONS_DEPLOYED bool = deployEventSubscriptions
