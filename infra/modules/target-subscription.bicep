// Everything ACR Guard needs in one watched subscription: the least-privilege custom role and
// its assignment, and the Event Grid plumbing that turns registry writes into function calls.
// main.bicep loops this module over targetSubscriptionIds.
targetScope = 'subscription'

@description('azd environment name; part of the custom role name, which must be unique in the tenant.')
param environmentName string

@description('Resource group that holds the system topic in this subscription (created if missing).')
param resourceGroupName string

@description('Region of that resource group (the system topic itself is global).')
param location string

@description('Tags for the resources created here.')
param tags object

@description('Principal ID of the function identity that gets the custom role.')
param principalId string

@description('Resource ID of the Function App that receives the events.')
param functionAppId string

@description('Subscription of the dead-letter storage account.')
param deadLetterSubscriptionId string

@description('Resource group of the dead-letter storage account.')
param deadLetterResourceGroupName string

@description('Name of the dead-letter storage account.')
param deadLetterStorageAccountName string

@description('Name of the dead-letter blob container.')
param deadLetterContainerName string

@description('Create the event subscription (requires the on_registry_write function to be deployed).')
param deployEventSubscription bool

@description('Rules the policy enables (main.bicep validates the names): the role grants their actions.')
param enabledRules array

// The ARM actions the code calls, per rule; acrguard/contract.py and the tests read the same file,
// so the role cannot drift from the code.
var contract = loadJsonContent('../../acrguard/azure_contract.json')
// base.roleActions plus the roleActions of each enabled rule, each once (union drops duplicates):
// acrguard.contract.role_actions(enabledRules).
var enabledRuleActions = [for rule in enabledRules: contract.rules[rule].roleActions]
var roleActions = union(contract.base.roleActions, flatten(enabledRuleActions))

// Exactly the actions of the enabled rules, nothing else: no Contributor, no */read, no
// listCredentials. Assignable only in this subscription.
resource remediatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'acrguard-remediator', environmentName)
  properties: {
    // Role names are unique per tenant, so one role per subscription carries the subscription ID.
    roleName: 'ACR Guard remediator (${take(environmentName, 32)}, ${subscription().subscriptionId})'
    description: 'Least privilege for ACR Guard: the actions of the rules this deployment enables. Generated from acrguard/azure_contract.json.'
    type: 'CustomRole'
    permissions: [
      {
        actions: roleActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

resource remediatorAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, remediatorRole.id)
  properties: {
    roleDefinitionId: remediatorRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'ACR Guard function identity: remediate container registries in this subscription.'
  }
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module topic 'eventgrid-topic.bicep' = {
  name: 'acrguard-topic-${uniqueString(environmentName)}'
  scope: rg
  params: {
    name: 'evgt-acrguard-${uniqueString(subscription().id, environmentName)}'
    tags: tags
  }
}

// The system topic's own identity writes dead letters into the (possibly other-subscription)
// storage account; it gets Blob Data Contributor on that one container only.
module deadLetterAccess 'deadletter-access.bicep' = {
  name: 'acrguard-deadletter-${uniqueString(subscription().id, environmentName)}'
  scope: resourceGroup(deadLetterSubscriptionId, deadLetterResourceGroupName)
  params: {
    storageAccountName: deadLetterStorageAccountName
    containerName: deadLetterContainerName
    principalId: topic.outputs.principalId
  }
}

module eventSubscription 'eventgrid-subscription.bicep' = if (deployEventSubscription) {
  name: 'acrguard-evsub-${uniqueString(environmentName)}'
  scope: rg
  params: {
    systemTopicName: topic.outputs.name
    functionAppId: functionAppId
    deadLetterStorageAccountId: resourceId(deadLetterSubscriptionId, deadLetterResourceGroupName, 'Microsoft.Storage/storageAccounts', deadLetterStorageAccountName)
    deadLetterContainerName: deadLetterContainerName
    enabledRules: enabledRules
  }
  // Dead-lettering must be authorised before the first event can fail delivery.
  dependsOn: [
    deadLetterAccess
  ]
}

@description('Resource ID of the custom role in this subscription.')
output roleDefinitionId string = remediatorRole.id

@description('Resource ID of the system topic in this subscription.')
output systemTopicId string = topic.outputs.id
