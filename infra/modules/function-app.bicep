// The Function App: Flex Consumption, Python 3.11 (the project's floor), running as the
// user-assigned identity. No connection string, key or password appears in its settings: storage,
// telemetry and ARM are all reached with the identity, and the one secret (a webhook URL) is a
// Key Vault reference that the platform resolves with that identity.

@description('Name of the Function App (also its default host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region (one that offers Flex Consumption).')
param location string

@description('Tags for the plan and the app; the app also gets azd-service-name.')
param tags object

@description('Resource ID of the user-assigned identity the app runs as.')
param identityId string

@description('Client ID of that identity (AZURE_CLIENT_ID, AzureWebJobsStorage__clientId, App Insights auth).')
param identityClientId string

@description('Name of the storage account for AzureWebJobsStorage and the deployment package.')
param storageAccountName string

@description('Blob container the Flex Consumption deployment package is stored in.')
param deploymentContainerName string

@description('URL of the container of per-registry leases (one writer of a registry\'s IP rules across instances).')
param leaseContainerUrl string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Flex Consumption maximumInstanceCount.')
param maximumInstanceCount int

@description('Flex Consumption instance memory in MB.')
param instanceMemoryMB int

@allowed([
  'dry-run'
  'enforce'
  ''
])
@description('ACRGUARD_MODE; empty defers to the policy file.')
param acrguardMode string

@description('ACRGUARD_RECONCILE_SCHEDULE (NCRONTAB).')
param reconcileSchedule string

@allowed([
  'list'
  'arg'
])
@description('ACRGUARD_RECONCILE_SOURCE.')
param reconcileSource string

@description('ACRGUARD_RETRY_BUDGET_S (seconds, may be fractional).')
param retryBudgetS string

@description('ACRGUARD_MAX_ATTEMPTS.')
param maxAttempts int

@description('ACRGUARD_HTTP_TIMEOUT_S (seconds, may be fractional).')
param httpTimeoutS string

@description('ACRGUARD_SWEEP_CONCURRENCY.')
param sweepConcurrency int

@description('ACRGUARD_SETTLE_S (seconds, may be fractional).')
param settleS string

@description('Versionless Key Vault secret URI holding ACRGUARD_NOTIFY_WEBHOOK_URL; empty disables the webhook sink.')
param notifyWebhookSecretUri string

@description('ACRGUARD_NOTIFY_WEBHOOK_FORMAT.')
param notifyWebhookFormat string

@description('ACRGUARD_NOTIFY_EVENTGRID_ENDPOINT; empty disables the Event Grid sink.')
param notifyEventGridEndpoint string

@description('ACRGUARD_NOTIFY_ON_FAILED.')
param notifyOnFailed bool

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy is not offered in every region; a missed event is retried by Event Grid for 24 h and the reconcile timer catches the rest.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    // Linux: Flex Consumption runs Linux workers only.
    reserved: true
  }
}

// The ARM endpoint and token audience follow the cloud this template is deployed to
// (sovereign clouds), instead of hard-coding management.azure.com.
var armEndpoint = environment().resourceManager

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Event Grid cannot deliver to a private endpoint; the only inbound route is the Event Grid extension webhook, guarded by its system key.
  // checkov:skip=CKV_AZURE_17: Event Grid presents no client certificate, so requiring one would block every delivery.
  // checkov:skip=CKV_AZURE_212: siteConfig.numberOfWorkers is a Dedicated-plan setting; Flex Consumption scales instances per event up to maximumInstanceCount.
  // checkov:skip=CKV_AZURE_213: no HTTP trigger to probe; Flex Consumption replaces unhealthy instances itself and Event Grid retries failed deliveries.
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    // Key Vault references resolve with the user-assigned identity (the default is a system one).
    keyVaultReferenceIdentity: identityId
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Event Grid calls the function server to server; no browser origin needs CORS.
      cors: {
        allowedOrigins: []
      }
      // Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION here:
      // the runtime comes from functionAppConfig.runtime.
      appSettings: [
        // Host storage over Entra ID: the host builds the blob URI from the account name and
        // authenticates as the user-assigned identity (no AccountKey anywhere).
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        // The connection string only locates the component (not a secret once local auth is
        // off); the authentication string makes ingestion use the identity.
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        // DefaultAzureCredential / ManagedIdentityCredential pick the user-assigned identity by
        // this client ID; without it they would look for a system-assigned one.
        {
          name: 'AZURE_CLIENT_ID'
          value: identityClientId
        }
        // ACR Guard's own settings (acrguard/settings.py SETTINGS). Every name is set here, even
        // when empty, so `az functionapp config appsettings list` shows the full surface and a
        // test can check nothing the code reads is missing. Empty means "use the code default".
        // Each value comes from a main.bicep parameter, or docs/DEPLOY.md says why it is fixed.
        {
          name: 'ACRGUARD_MODE'
          value: acrguardMode
        }
        {
          // Empty: policies.yaml packaged beside function_app.py.
          name: 'ACRGUARD_POLICY_FILE'
          value: ''
        }
        {
          name: 'ACRGUARD_ARM_ENDPOINT'
          value: armEndpoint
        }
        {
          name: 'ACRGUARD_ARM_AUDIENCE'
          value: armEndpoint
        }
        {
          // Read by the timer trigger's binding expression as well as by the code.
          name: 'ACRGUARD_RECONCILE_SCHEDULE'
          value: reconcileSchedule
        }
        {
          name: 'ACRGUARD_RECONCILE_SOURCE'
          value: reconcileSource
        }
        {
          name: 'ACRGUARD_RETRY_BUDGET_S'
          value: retryBudgetS
        }
        {
          name: 'ACRGUARD_MAX_ATTEMPTS'
          value: string(maxAttempts)
        }
        {
          name: 'ACRGUARD_HTTP_TIMEOUT_S'
          value: httpTimeoutS
        }
        {
          name: 'ACRGUARD_SWEEP_CONCURRENCY'
          value: string(sweepConcurrency)
        }
        {
          name: 'ACRGUARD_SETTLE_S'
          value: settleS
        }
        {
          // The identity holds Blob Data Contributor on this container only (storage.bicep).
          name: 'ACRGUARD_LEASE_CONTAINER_URL'
          value: leaseContainerUrl
        }
        {
          // A Key Vault reference, never the URL: the platform resolves it into the environment.
          name: 'ACRGUARD_NOTIFY_WEBHOOK_URL'
          value: empty(notifyWebhookSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${notifyWebhookSecretUri})'
        }
        {
          name: 'ACRGUARD_NOTIFY_WEBHOOK_FORMAT'
          value: notifyWebhookFormat
        }
        {
          name: 'ACRGUARD_NOTIFY_EVENTGRID_ENDPOINT'
          value: notifyEventGridEndpoint
        }
        {
          // Always empty: the identity publishes to the topic (EventGrid Data Sender), no key.
          name: 'ACRGUARD_NOTIFY_EVENTGRID_KEY'
          value: ''
        }
        {
          name: 'ACRGUARD_NOTIFY_ON_FAILED'
          value: notifyOnFailed ? 'true' : 'false'
        }
        {
          // The CLI's local trail for `history` and `undo`; the app's decisions go to its workspace.
          name: 'ACRGUARD_AUDIT_FILE'
          value: ''
        }
        {
          // Read by `acrguard history`/`undo` only (the CLI); empty here: the app never queries it.
          name: 'ACRGUARD_HISTORY_WORKSPACE'
          value: ''
        }
        {
          // Empty: the public cloud's query endpoint (the CLI's; the app never queries it).
          name: 'ACRGUARD_LOGS_ENDPOINT'
          value: ''
        }
      ]
    }
  }
}

// Deployments go through Entra ID (azd, `az functionapp deployment`, Core Tools); no FTP or
// SCM basic-auth publishing credentials exist to leak.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

@description('Name of the Function App.')
output name string = site.name

@description('Resource ID of the Function App; Event Grid targets <id>/functions/on_registry_write.')
output id string = site.id

@description('Default host name of the Function App.')
output defaultHostName string = site.properties.defaultHostName
