// Azure Monitor log search alert rules on the audit trail and the Function App's telemetry, routed
// to one action group whose receivers are parameters. Each rule's query is a file in
// infra/queries/alert-*.kql (checked with Microsoft's Kusto parser and run on the audit lines the
// tests produce: tests/infra/test_alert_queries.py); docs/DEPLOY.md says what each alert means and
// what to do. API shape: Azure/azure-rest-api-specs, specification/monitor/resource-manager/
// Microsoft.Insights/stable/2023-12-01/scheduledQueryRule_API.json.

@description('Prefix of the alert rule and action group names.')
param namePrefix string

@description('Azure region of the alert rules (the workspace\'s).')
param location string

@description('Tags for the alert resources.')
param tags object

@description('Resource ID of the Log Analytics workspace the rules query (AppTraces, AppRequests, StorageBlobLogs).')
param workspaceId string

@description('Name of the storage account that holds the dead-letter container; its blob write and delete logs go to the workspace.')
param storageAccountName string

@description('E-mail addresses the action group notifies (may be empty).')
param alertEmails array

@secure()
@description('Webhook the action group posts the common alert schema to; empty for none. Its path may hold a token, hence secure.')
param alertWebhookUrl string

@minValue(1)
@description('Threshold of the exposure alert: the 95th percentile over an hour of the time from a person\'s write to the fix, in seconds.')
param exposureP95ThresholdS int

@minValue(1)
@maxValue(48)
@description('Window of the no-reconcile heartbeat, in hours: twice the reconcile schedule\'s interval (at most 48, the longest a log search alert can look back).')
param reconcileSilenceHours int

var receivers = !(empty(alertEmails) && empty(alertWebhookUrl))

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (receivers) {
  name: '${namePrefix}-alerts'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'acrguard'
    enabled: true
    emailReceivers: [for address in alertEmails: {
      name: 'email-${take(uniqueString(address), 8)}'
      emailAddress: trim(address)
      useCommonAlertSchema: true
    }]
    webhookReceivers: empty(alertWebhookUrl) ? [] : [
      {
        name: 'webhook'
        serviceUri: alertWebhookUrl
        useCommonAlertSchema: true
      }
    ]
  }
}

// StorageBlobLogs for the dead-letter alert: the BlobCount metric has no container dimension.
resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource blobLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: '${namePrefix}-blob-logs'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

// Count rules fire on more than `threshold` rows; measure rules on the value of `measure` in the
// query's one row (Total of one row is that row's value).
var rules = [
  {
    name: 'failed'
    displayName: 'ACR Guard: a decision failed'
    description: 'A fix was needed and did not land, or ARM kept failing. See docs/DEPLOY.md, Alerts.'
    severity: 1
    query: loadTextContent('../queries/alert-failed.kql')
    frequency: 'PT5M'
    window: 'PT5M'
    measure: ''
    comparison: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'flagged'
    displayName: 'ACR Guard: a finding needs a person'
    description: 'A decision was flagged: ACR Guard will not fix it by itself. See docs/DEPLOY.md, Alerts.'
    severity: 2
    query: loadTextContent('../queries/alert-flagged.kql')
    frequency: 'PT5M'
    window: 'PT5M'
    measure: ''
    comparison: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'deadletter'
    displayName: 'ACR Guard: events are dead-lettered'
    description: 'Event Grid could not deliver events and wrote them to the deadletter container. See docs/DEPLOY.md, Alerts.'
    severity: 1
    query: loadTextContent('../queries/alert-deadletter.kql')
    frequency: 'PT1H'
    window: 'P2D'
    measure: ''
    comparison: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'function-failures'
    displayName: 'ACR Guard: function invocations failed'
    description: 'on_registry_write or reconcile raised. See docs/DEPLOY.md, Alerts.'
    severity: 2
    query: loadTextContent('../queries/alert-function-failures.kql')
    frequency: 'PT15M'
    window: 'PT15M'
    measure: ''
    comparison: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'reconcile-silence'
    displayName: 'ACR Guard: no reconcile completed'
    description: 'No reconcile succeeded within twice its schedule. See docs/DEPLOY.md, Alerts.'
    severity: 1
    query: loadTextContent('../queries/alert-reconcile-silence.kql')
    frequency: 'PT1H'
    window: 'PT${reconcileSilenceHours}H'
    measure: 'completed'
    comparison: 'LessThan'
    threshold: 1
  }
  {
    name: 'exposure-p95'
    displayName: 'ACR Guard: the exposure window is too long'
    description: 'The 95th percentile of the time from a person\'s write to the fix is above the threshold. See docs/DEPLOY.md, Alerts.'
    severity: 2
    query: loadTextContent('../queries/alert-exposure-p95.kql')
    frequency: 'PT15M'
    window: 'PT1H'
    measure: 'p95_s'
    comparison: 'GreaterThan'
    threshold: exposureP95ThresholdS
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in rules: {
  name: '${namePrefix}-${rule.name}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: rule.displayName
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: rule.frequency
    windowSize: rule.window
    criteria: {
      allOf: [
        union({
          query: rule.query
          timeAggregation: empty(rule.measure) ? 'Count' : 'Total'
          operator: rule.comparison
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }, empty(rule.measure) ? {} : {
          metricMeasureColumn: rule.measure
        })
      ]
    }
    autoMitigate: true
    // A new workspace has no StorageBlobLogs (nor AppRequests) table until its first row arrives,
    // and validating a query that names a table not there yet fails the deployment (the workaround
    // Azure Monitor advised in mspnp/aks-baseline-multi-region pull request 94). The queries are
    // checked instead by Kusto.Language against these tables' schemas (tests/infra/test_alert_queries.py).
    skipQueryValidation: true
    actions: {
      actionGroups: receivers ? [
        actionGroup.id
      ] : []
    }
  }
}]

@description('Names of the alert rules.')
output ruleNames array = [for (rule, i) in rules: alertRules[i].name]
