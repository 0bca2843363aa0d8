// The one identity ACR Guard runs as. User-assigned rather than system-assigned so that role
// assignments (storage, telemetry, the custom role in every target subscription) can be made
// before the Function App exists, and survive it being recreated.

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags for the identity.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource ID of the identity.')
output id string = identity.id

@description('Client (application) ID: what AZURE_CLIENT_ID and AzureWebJobsStorage__clientId select.')
output clientId string = identity.properties.clientId

@description('Object (principal) ID: what role assignments grant to.')
output principalId string = identity.properties.principalId
