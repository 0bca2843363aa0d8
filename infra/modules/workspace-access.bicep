// The diagnostic_settings rule's workspace actions (acrguard/azure_contract.json,
// rules.diagnostic_settings.workspaceActions) on one Log Analytics workspace, for the function
// identity: ARM checks workspaces/sharedKeys/action on the workspace a diagnostic setting sends
// to, so it is granted on that workspace only, never in the subscription-wide role. Deployed in
// the workspace's resource group, in any subscription.

@description('azd environment name; part of the role name, which is unique in the tenant.')
param environmentName string

@description('Name of the Log Analytics workspace (in this resource group).')
param workspaceName string

@description('Principal ID of the ACR Guard function identity.')
param principalId string

var contract = loadJsonContent('../../acrguard/azure_contract.json')

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource destinationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'acrguard-diagnostic-destination', environmentName)
  properties: {
    roleName: 'ACR Guard diagnostic destination (${take(environmentName, 32)}, ${uniqueString(resourceGroup().id)})'
    description: 'Send a registry\'s diagnostic setting to this workspace. Generated from acrguard/azure_contract.json (rules.diagnostic_settings.workspaceActions).'
    type: 'CustomRole'
    permissions: [
      {
        actions: contract.rules.diagnostic_settings.workspaceActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource destinationAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, destinationRole.id)
  scope: workspace
  properties: {
    roleDefinitionId: destinationRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'ACR Guard function identity: registries\' diagnostic settings may send to this workspace.'
  }
}
