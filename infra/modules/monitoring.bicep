// Log Analytics + workspace-based Application Insights, and the saved query that answers
// "what did ACR Guard change in the last 24 hours?".

@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Azure region.')
param location string

@description('Tags for the monitoring resources.')
param tags object

@description('Retention of the workspace in days; the audit trail lives here.')
param retentionInDays int

@description('Principal ID of the function identity, granted Monitoring Metrics Publisher so it can ingest with Entra ID (local auth is off).')
param publisherPrincipalId string

// Built-in role: Monitoring Metrics Publisher (telemetry ingestion with Entra ID auth).
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      // Access is granted on the workspace or per resource through Azure RBAC, never shared keys.
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // The instrumentation key alone can no longer ingest: the host authenticates with the
    // managed identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, publisherPrincipalId, monitoringMetricsPublisherRoleId)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: publisherPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Shipped in the repository as infra/queries/changes-last-24h.kql so it can be read, reviewed
// and pasted; this makes it one click away under the workspace's saved queries.
resource changesLast24h 'Microsoft.OperationalInsights/workspaces/savedSearches@2020-08-01' = {
  parent: workspace
  name: 'acrguard-changes-last-24h'
  properties: {
    category: 'ACR Guard'
    displayName: 'ACR Guard: registry changes in the last 24 hours'
    query: loadTextContent('../queries/changes-last-24h.kql')
    version: 2
  }
}

@description('Name of the Application Insights component.')
output applicationInsightsName string = appInsights.name

@description('Resource ID of the Log Analytics workspace.')
output logAnalyticsWorkspaceId string = workspace.id
