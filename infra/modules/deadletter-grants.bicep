// Lets the management-group onboarding policies' identities (infra/management-group.bicep) grant
// each system topic they deploy Storage Blob Data Contributor on the dead-letter container, and
// nothing else: deployments in this resource group, and role assignments on that one container,
// constrained by a condition to that one role for service principals. Deployed in the dead-letter
// storage account's resource group.

@description('azd environment name; part of the role names, which are unique in the tenant.')
param environmentName string

@description('Name of the dead-letter storage account (in this resource group).')
param storageAccountName string

@description('Name of the dead-letter container.')
param containerName string

@description('Principal IDs of the policy assignments\' identities (attach, create).')
param principalIds array

var contract = loadJsonContent('../../acrguard/azure_contract.json')
// Storage Blob Data Contributor: the role Event Grid's identity needs to write dead letters.
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
// Role assignment conditions: MicrosoftDocs/azure-docs
// articles/role-based-access-control/delegate-role-assignments-examples.md (constrain roles and
// principal types). Writing allows only that role for service principals; so does deleting.
var grantCondition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${blobDataContributor}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {\'ServicePrincipal\'}))'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: containerName
}

resource deployRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'acrguard-deadletter-deploy', environmentName)
  properties: {
    roleName: 'ACR Guard dead-letter deployments (${take(environmentName, 32)}, ${uniqueString(resourceGroup().id)})'
    description: 'Run the onboarding policies\' deployments in the dead-letter account\'s resource group. Generated from acrguard/azure_contract.json (onboarding.deadLetterDeployActions).'
    type: 'CustomRole'
    permissions: [
      {
        actions: contract.onboarding.deadLetterDeployActions
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

resource grantRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'acrguard-deadletter-grant', environmentName)
  properties: {
    roleName: 'ACR Guard dead-letter grants (${take(environmentName, 32)}, ${uniqueString(resourceGroup().id)})'
    description: 'Assign a system topic Storage Blob Data Contributor on the dead-letter container. Generated from acrguard/azure_contract.json (onboarding.deadLetterGrantActions).'
    type: 'CustomRole'
    permissions: [
      {
        actions: contract.onboarding.deadLetterGrantActions
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

resource deployAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in principalIds: {
  name: guid(resourceGroup().id, principalId, deployRole.id)
  properties: {
    roleDefinitionId: deployRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'ACR Guard onboarding policy: deployments that grant dead-letter access.'
  }
}]

resource grantAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in principalIds: {
  name: guid(container.id, principalId, grantRole.id)
  scope: container
  properties: {
    roleDefinitionId: grantRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    condition: grantCondition
    conditionVersion: '2.0'
    description: 'ACR Guard onboarding policy: may give a system topic Storage Blob Data Contributor on this container only.'
  }
}]
