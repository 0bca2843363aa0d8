// The Key Vault that holds the notify webhook URL (Teams and Slack URLs embed a token). The Function
// App reads it through a Key Vault reference with its identity, so the URL never appears in the app's
// settings, in `az functionapp config appsettings list`, or in the site's ARM resource.
// main.bicep deploys this module only when a webhook URL is given.

@description('Name of the vault (3-24 letters, digits and hyphens, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags for the vault.')
param tags object

@secure()
@description('The webhook URL to store.')
param notifyWebhookUrl string

@description('Principal ID of the function identity, the only reader of the secret.')
param readerPrincipalId string

// Built-in role: Key Vault Secrets User (read secret values).
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var webhookSecretName = 'notify-webhook-url'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: the Flex Consumption app has no VNet integration here, and App Service resolves Key Vault references over the public endpoint (it is not a trusted service); access is Entra ID RBAC only.
  // checkov:skip=CKV_AZURE_189: as CKV_AZURE_109, the public endpoint must stay on for the Key Vault reference; only the function identity may read the one secret.
  // checkov:skip=CKV_AZURE_110: purge protection would keep the name for 90 days after `azd down`, so `azd up` of the same environment fails; the one secret is re-entered from its source, and soft delete keeps it 7 days.
  // checkov:skip=CKV_AZURE_42: as CKV_AZURE_110, soft delete is on (7 days) and purge protection is deliberately off for a vault that holds one re-creatable secret.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    // Azure RBAC only: no access policies, so a role assignment is the whole story of who reads what.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource webhookSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: a webhook URL has no expiry of its own; an expiry date here would only silence notifications on that day.
  parent: vault
  name: webhookSecretName
  properties: {
    value: notifyWebhookUrl
    contentType: 'text/uri-list'
  }
}

// Scoped to the one secret, not the vault.
resource webhookSecretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, webhookSecretName, readerPrincipalId, keyVaultSecretsUserRoleId)
  scope: webhookSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('Versionless URI of the webhook secret (a Key Vault reference then follows rotations); the URI is no secret.')
output webhookSecretUri string = '${vault.properties.vaultUri}secrets/${webhookSecretName}'
