// One storage account for the Functions host (AzureWebJobsStorage), the Flex Consumption
// deployment package and the Event Grid dead-letter container. Keys are disabled: every client
// (host, deployment, Event Grid, operators) authenticates with Entra ID, and every blob role is
// granted on one container, never on the account: the function identity cannot read or delete
// dead letters, and the topics that write dead letters cannot touch the app package.

@description('Name of the storage account (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the storage account.')
param tags object

@description('Principal ID of the function identity (host containers and deployment package only).')
param hostPrincipalId string

@description('Optional principal ID of an operator who replays dead letters (read + delete on that container only); empty grants nothing.')
param operatorPrincipalId string = ''

// Built-in roles.
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

var deploymentContainerName = 'app-package'
var deadLetterContainerName = 'deadletter'
// The Functions host keeps its locks, timer schedule status and keys in these two containers. They
// are created here so that the host needs rights on them alone, not the right to create containers.
var hostLocksContainerName = 'azure-webjobs-hosts'
var hostKeysContainerName = 'azure-webjobs-secrets'
// One empty blob per registry whose IP rules ACR Guard has replaced; its lease lets one Function
// instance at a time replace them (acrguard/engine/lease.py).
var leaseContainerName = 'acrguard-leases'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: a Flex Consumption host without VNet integration reaches its storage over the public endpoint; access is Entra ID only (shared keys off).
  // checkov:skip=CKV_AZURE_59: as CKV_AZURE_35, without VNet integration the public endpoint must stay on; it accepts Entra ID tokens only.
  // checkov:skip=CKV_AZURE_206: LRS is enough for host state, the rebuildable deployment package and dead letters that Event Grid retries for 24 h first; switch the SKU for GRS if your policy needs it.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // Event Grid dead-letters with its managed identity as a trusted service; the bypass keeps
      // that working if an operator later tightens defaultAction to Deny with VNet integration.
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    // Dead letters are the last copy of an undelivered event: keep deleted ones recoverable.
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

// Flex Consumption pulls the app package from this container with the function identity.
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource hostLocksContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: hostLocksContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource hostKeysContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: hostKeysContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Event Grid writes events it could not deliver after its retry policy here (one blob per event
// batch); `acrguard replay` reads them back.
resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource leaseContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: leaseContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Lease Blob and Put Blob need .../containers/blobs/write (Learn: "Permissions for Blob service
// operations"): Blob Data Contributor, on the lease container only.
resource leaseAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(leaseContainer.id, hostPrincipalId, storageBlobDataContributorRoleId)
  scope: leaseContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: hostPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The host needs Blob Data Owner for AzureWebJobsStorage (locks, timer schedule status, keys): on
// its two containers only. Queue and Table roles are deliberately not granted: neither the Event
// Grid nor the timer trigger uses them.
resource hostLocksOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostLocksContainer.id, hostPrincipalId, storageBlobDataOwnerRoleId)
  scope: hostLocksContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: hostPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource hostKeysOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostKeysContainer.id, hostPrincipalId, storageBlobDataOwnerRoleId)
  scope: hostKeysContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: hostPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Flex Consumption's one-deploy writes the package with the identity named in
// functionAppConfig.deployment.storage, and the host reads it from there: Blob Data Contributor,
// on this container only. (Code running as the identity can therefore rewrite its own package;
// no identity assigned to the app can be kept from its code, see docs/DEPLOY.md.)
resource deploymentPackageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deploymentContainer.id, hostPrincipalId, storageBlobDataContributorRoleId)
  scope: deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: hostPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// `acrguard replay` reads dead letters and deletes the ones it replayed, so the operator gets
// Blob Data Contributor, on this container only.
resource operatorDeadLetterAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(deadLetterContainer.id, operatorPrincipalId, storageBlobDataContributorRoleId)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: operatorPrincipalId
  }
}

@description('Name of the storage account.')
output name string = account.name

@description('Resource ID of the storage account.')
output id string = account.id

@description('Name of the Flex Consumption deployment container.')
output deploymentContainerName string = deploymentContainer.name

@description('Name of the dead-letter container.')
output deadLetterContainerName string = deadLetterContainer.name

@description('URL of the dead-letter container.')
output deadLetterContainerUrl string = '${account.properties.primaryEndpoints.blob}${deadLetterContainerName}'

@description('URL of the container of per-registry leases (ACRGUARD_LEASE_CONTAINER_URL).')
output leaseContainerUrl string = '${account.properties.primaryEndpoints.blob}${leaseContainer.name}'
