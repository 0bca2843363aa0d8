// Onboard every subscription under a management group, including subscriptions created later.
// Deployed after main.bicep (which creates the Function App and its identity), at the group:
//   az deployment mg create --management-group-id <mg> --location <region> \
//     --template-file infra/management-group.bicep --parameters principalId=... functionAppId=... \
//     enabledRules="$(python -m acrguard.contract --enabled-rules policies.yaml)" ...
// It creates: the custom role (assignable at the group) and one assignment of it there; two
// DeployIfNotExists policies, assigned at the group, that give every subscription the
// `acrguard-registry-writes` event subscription: one attaches it to a subscription's existing
// Microsoft.Resources.Subscriptions system topic (Azure allows only one), the other creates the
// topic where there is none; and remediation tasks for the subscriptions that exist today.
// The event subscription dead-letters with the topic's own identity (the storage account has no
// shared keys): each policy's deployment gives the topic a system identity and grants it Storage
// Blob Data Contributor on the dead-letter container, through modules/deadletter-grants.bicep.
targetScope = 'managementGroup'

@description('azd environment name; part of the role, policy and assignment names.')
param environmentName string

@description('Principal ID of the ACR Guard function identity (main.bicep output `AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID`).')
param principalId string

@description('Resource ID of the Function App that receives the events (main.bicep output `AZURE_FUNCTION_APP_ID`).')
param functionAppId string

@description('Resource ID of the dead-letter storage account (main.bicep output `AZURE_STORAGE_ACCOUNT_ID`).')
param deadLetterStorageAccountId string

@description('Name of the dead-letter blob container.')
param deadLetterContainerName string = 'deadletter'

@description('Log Analytics workspaces the diagnostic_settings rule sends to (`python -m acrguard.contract --diagnostic-workspaces policies.yaml`): the function identity gets the workspace actions on each, and nowhere else.')
param diagnosticWorkspaceIds array = []

@description('Resource group created in a subscription that has no system topic yet.')
param resourceGroupName string = 'rg-acrguard-events'

@description('Region of the policy assignments\' identities and of that resource group.')
param location string = deployment().location

@description('Start remediation tasks for the subscriptions that exist today.')
param remediateExisting bool = true

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
@description('Rules policies.yaml enables anywhere (`python -m acrguard.contract --enabled-rules policies.yaml` prints the value): the role grants exactly their actions, the event filter passes exactly their operations.')
param enabledRules array

// The same contract and union as the per-subscription deployment (modules/target-subscription.bicep
// and modules/eventgrid-subscription.bicep): the base plus the entries of the enabled rules.
var contract = loadJsonContent('../acrguard/azure_contract.json')
var enabledRuleActions = [for rule in enabledRules: contract.rules[rule].roleActions]
var roleActions = union(contract.base.roleActions, flatten(enabledRuleActions))
var enabledRuleOperations = [for rule in enabledRules: contract.rules[rule].operationNames]
var operationNames = union(contract.base.operationNames, flatten(enabledRuleOperations))
var eventSubscriptionName = 'acrguard-registry-writes'
// The attach policy's identity works on topics that exist: built-in EventGrid Contributor. The
// create policy's identity gets the custom role below: exactly what its deployment does.
var eventGridContributor = '1e241071-0855-49ea-94dc-649edcd759de'
// Event Grid writes dead letters to Blob storage with this built-in role (MicrosoftDocs/azure-docs
// articles/event-grid/add-identity-roles.md): Storage Blob Data Contributor.
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var deadLetterIdParts = split(deadLetterStorageAccountId, '/')
var deadLetterAccountName = last(deadLetterIdParts)

resource remediatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(managementGroup().id, 'acrguard-remediator', environmentName)
  properties: {
    roleName: 'ACR Guard remediator (${take(environmentName, 32)}, ${managementGroup().name})'
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
      managementGroup().id
    ]
  }
}

// The create policy's deployment makes a resource group, deployments, a system topic and its event
// subscription in each new subscription, and nothing else: this role, not built-in Contributor.
resource onboardingRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(managementGroup().id, 'acrguard-onboarding', environmentName)
  properties: {
    roleName: 'ACR Guard onboarding (${take(environmentName, 32)}, ${managementGroup().name})'
    description: 'What the ACR Guard create policy deploys in a subscription: resource group, deployments, system topic, event subscription. Generated from acrguard/azure_contract.json (onboarding.createActions).'
    type: 'CustomRole'
    permissions: [
      {
        actions: contract.onboarding.createActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      managementGroup().id
    ]
  }
}

resource remediatorAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, principalId, remediatorRole.id)
  properties: {
    roleDefinitionId: remediatorRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'ACR Guard function identity: remediate container registries in every subscription under this group.'
  }
}

var functionResourceId = '${functionAppId}/functions/on_registry_write'
var eventFilter = {
  includedEventTypes: contract.eventTypes
  advancedFilters: [
    {
      operatorType: 'StringIn'
      key: 'data.operationName'
      values: operationNames
    }
    {
      operatorType: 'StringContains'
      key: 'subject'
      values: contract.subjectContains
    }
  ]
}
var deadLetter = {
  identity: {
    type: 'SystemAssigned'
  }
  deadLetterDestination: {
    endpointType: 'StorageBlob'
    properties: {
      resourceId: deadLetterStorageAccountId
      blobContainerName: deadLetterContainerName
    }
  }
}
var filterLabel = 'acrguard-${uniqueString(string(eventFilter), string(deadLetter))}'

// The event subscription both policies deploy (the shape of modules/eventgrid-subscription.bicep).
var eventSubscriptionProperties = {
  destination: {
    endpointType: 'AzureFunction'
    properties: {
      resourceId: functionResourceId
      maxEventsPerBatch: 1
      preferredBatchSizeInKilobytes: 64
    }
  }
  eventDeliverySchema: 'EventGridSchema'
  filter: eventFilter
  retryPolicy: {
    maxDeliveryAttempts: 30
    eventTimeToLiveInMinutes: 1440
  }
  // The account has shared keys off: Event Grid writes dead letters as the topic's own identity.
  deadLetterWithResourceIdentity: deadLetter
  // Azure Policy has no alias for an advanced filter's values: this label fingerprints the filter
  // and dead-lettering this template deploys, and the attach policy's existence condition asks for it.
  labels: [
    filterLabel
  ]
}

// Deployed in the topic's resource group by both policies: the topic with a system identity (kept
// when it has one, added beside any user-assigned ones), Storage Blob Data Contributor for that
// identity on the dead-letter container (a deployment in the account's resource group), then the
// event subscription, which dead-letters as that identity.
var schema = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'
var topicRef = 'resourceId(\'Microsoft.EventGrid/systemTopics\', parameters(\'topicName\'))'
var topicId = '[${topicRef}]'
var deadLetterAccessName = '[concat(\'acrguard-deadletter-\', uniqueString(subscription().id))]'
var topicTemplate = {
  '$schema': schema
  contentVersion: '1.0.0.0'
  parameters: {
    topicName: {
      type: 'string'
    }
    location: {
      type: 'string'
      defaultValue: 'global'
    }
    tags: {
      type: 'object'
      defaultValue: {}
    }
    identityType: {
      type: 'string'
      defaultValue: 'None'
    }
    userAssignedIdentities: {
      type: 'object'
      defaultValue: {}
    }
  }
  resources: [
    {
      condition: '[not(contains(toLower(parameters(\'identityType\')), \'systemassigned\'))]'
      type: 'Microsoft.EventGrid/systemTopics'
      apiVersion: '2022-06-15'
      name: '[parameters(\'topicName\')]'
      location: '[parameters(\'location\')]'
      tags: '[parameters(\'tags\')]'
      identity: '[if(contains(toLower(parameters(\'identityType\')), \'userassigned\'), createObject(\'type\', \'SystemAssigned, UserAssigned\', \'userAssignedIdentities\', parameters(\'userAssignedIdentities\')), createObject(\'type\', \'SystemAssigned\'))]'
      properties: {
        source: '[subscription().id]'
        topicType: 'Microsoft.Resources.Subscriptions'
      }
    }
    {
      type: 'Microsoft.Resources/deployments'
      apiVersion: '2022-09-01'
      name: deadLetterAccessName
      subscriptionId: deadLetterIdParts[2]
      resourceGroup: deadLetterIdParts[4]
      dependsOn: [
        topicId
      ]
      properties: {
        mode: 'Incremental'
        expressionEvaluationOptions: {
          scope: 'inner'
        }
        parameters: {
          principalId: {
            value: '[reference(${topicRef}, \'2022-06-15\', \'full\').identity.principalId]'
          }
        }
        template: {
          '$schema': schema
          contentVersion: '1.0.0.0'
          parameters: {
            principalId: {
              type: 'string'
            }
          }
          resources: [
            {
              type: 'Microsoft.Authorization/roleAssignments'
              apiVersion: '2022-04-01'
              scope: 'Microsoft.Storage/storageAccounts/${deadLetterAccountName}/blobServices/default/containers/${deadLetterContainerName}'
              name: '[guid(resourceId(\'Microsoft.Storage/storageAccounts/blobServices/containers\', \'${deadLetterAccountName}\', \'default\', \'${deadLetterContainerName}\'), parameters(\'principalId\'), \'${blobDataContributor}\')]'
              properties: {
                roleDefinitionId: '[subscriptionResourceId(\'Microsoft.Authorization/roleDefinitions\', \'${blobDataContributor}\')]'
                principalId: '[parameters(\'principalId\')]'
                principalType: 'ServicePrincipal'
                description: 'ACR Guard: a subscription system topic writes its dead letters here.'
              }
            }
          ]
        }
      }
    }
    {
      type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
      apiVersion: '2022-06-15'
      name: '[concat(parameters(\'topicName\'), \'/${eventSubscriptionName}\')]'
      // Dead-lettering must be authorised before the first event can fail delivery.
      dependsOn: [
        topicId
        deadLetterAccessName
      ]
      properties: eventSubscriptionProperties
    }
  ]
}

// What makes an existing acrguard-registry-writes compliant: our function as the destination, the
// event types and advanced filters this template deploys (keys and operators by alias; the values,
// which have no alias, through the fingerprint label), and dead-lettering with the topic identity.
// A repointed or edited event subscription is non-compliant, and remediation redeploys it.
// Aliases: destination.<EndpointType>.<property> as in MicrosoftDocs/azure-docs
// articles/event-grid/custom-azure-policies-for-security-control.md; the others as Azure lists them.
var alias = 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
var advancedFilterConditions = [for f in eventFilter.advancedFilters: {
  count: {
    field: '${alias}/filter.advancedFilters[*]'
    where: {
      allOf: [
        {
          field: '${alias}/filter.advancedFilters[*].key'
          equals: f.key
        }
        {
          field: '${alias}/filter.advancedFilters[*].operatorType'
          equals: f.operatorType
        }
      ]
    }
  }
  equals: 1
}]
var subscriptionConditions = [
  {
    field: '${alias}/destination.endpointType'
    equals: 'AzureFunction'
  }
  {
    field: '${alias}/destination.AzureFunction.resourceId'
    equals: functionResourceId
  }
  {
    count: {
      field: '${alias}/filter.includedEventTypes[*]'
    }
    equals: length(eventFilter.includedEventTypes)
  }
  {
    count: {
      field: '${alias}/filter.includedEventTypes[*]'
      where: {
        field: '${alias}/filter.includedEventTypes[*]'
        in: eventFilter.includedEventTypes
      }
    }
    equals: length(eventFilter.includedEventTypes)
  }
  {
    count: {
      field: '${alias}/filter.advancedFilters[*]'
    }
    equals: length(eventFilter.advancedFilters)
  }
  {
    field: '${alias}/deadLetterWithResourceIdentity.identity.type'
    equals: 'SystemAssigned'
  }
  {
    field: '${alias}/deadLetterWithResourceIdentity.deadLetterDestination.endpointType'
    equals: 'StorageBlob'
  }
  {
    count: {
      field: '${alias}/labels[*]'
      where: {
        field: '${alias}/labels[*]'
        equals: filterLabel
      }
    }
    equals: 1
  }
]

// 1. A subscription that already has a system topic for its ARM events: attach to it.
resource attachPolicy 'Microsoft.Authorization/policyDefinitions@2023-04-01' = {
  name: guid(managementGroup().id, 'acrguard-attach', environmentName)
  properties: {
    displayName: 'ACR Guard: registry writes from an existing subscription system topic'
    description: 'Adds the acrguard-registry-writes event subscription to an existing Microsoft.Resources.Subscriptions system topic, with the topic identity for dead-lettering; redeploys one that was repointed.'
    policyType: 'Custom'
    mode: 'All'
    policyRule: {
      if: {
        allOf: [
          {
            field: 'type'
            equals: 'Microsoft.EventGrid/systemTopics'
          }
          {
            field: 'Microsoft.EventGrid/systemTopics/topicType'
            equals: 'Microsoft.Resources.Subscriptions'
          }
        ]
      }
      then: {
        effect: 'deployIfNotExists'
        details: {
          type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
          name: eventSubscriptionName
          existenceCondition: {
            allOf: concat(subscriptionConditions, advancedFilterConditions)
          }
          roleDefinitionIds: [
            '/providers/Microsoft.Authorization/roleDefinitions/${eventGridContributor}'
          ]
          deployment: {
            properties: {
              mode: 'incremental'
              parameters: {
                topicName: {
                  value: '[field(\'name\')]'
                }
                location: {
                  value: '[field(\'location\')]'
                }
                tags: {
                  value: '[coalesce(field(\'tags\'), createObject())]'
                }
                identityType: {
                  value: '[coalesce(field(\'identity.type\'), \'None\')]'
                }
                userAssignedIdentities: {
                  value: '[coalesce(field(\'identity.userAssignedIdentities\'), createObject())]'
                }
              }
              template: topicTemplate
            }
          }
        }
      }
    }
  }
}

// 2. A subscription without one (a new subscription, typically): create the topic and attach.
resource createPolicy 'Microsoft.Authorization/policyDefinitions@2023-04-01' = {
  name: guid(managementGroup().id, 'acrguard-create', environmentName)
  properties: {
    displayName: 'ACR Guard: subscription system topic for registry writes'
    description: 'Creates a Microsoft.Resources.Subscriptions system topic with the acrguard-registry-writes event subscription in a subscription that has none.'
    policyType: 'Custom'
    mode: 'All'
    policyRule: {
      if: {
        field: 'type'
        equals: 'Microsoft.Resources/subscriptions'
      }
      then: {
        effect: 'deployIfNotExists'
        details: {
          type: 'Microsoft.EventGrid/systemTopics'
          existenceScope: 'subscription'
          deploymentScope: 'subscription'
          existenceCondition: {
            field: 'Microsoft.EventGrid/systemTopics/topicType'
            equals: 'Microsoft.Resources.Subscriptions'
          }
          roleDefinitionIds: [
            onboardingRole.id
          ]
          deployment: {
            location: location
            properties: {
              mode: 'incremental'
              template: {
                '$schema': 'https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#'
                contentVersion: '1.0.0.0'
                resources: [
                  {
                    type: 'Microsoft.Resources/resourceGroups'
                    apiVersion: '2024-03-01'
                    name: resourceGroupName
                    location: location
                  }
                  {
                    type: 'Microsoft.Resources/deployments'
                    apiVersion: '2022-09-01'
                    name: 'acrguard-system-topic'
                    resourceGroup: resourceGroupName
                    dependsOn: [
                      resourceGroupName
                    ]
                    properties: {
                      mode: 'Incremental'
                      expressionEvaluationOptions: {
                        scope: 'inner'
                      }
                      parameters: {
                        topicName: {
                          value: '[concat(\'evgt-acrguard-\', subscription().subscriptionId)]'
                        }
                      }
                      template: topicTemplate
                    }
                  }
                ]
              }
            }
          }
        }
      }
    }
  }
}

// Each policy with the role its identity deploys with, at the group.
var policies = [
  {
    key: 'attach'
    definitionId: attachPolicy.id
    roleDefinitionId: tenantResourceId('Microsoft.Authorization/roleDefinitions', eventGridContributor)
  }
  {
    key: 'create'
    definitionId: createPolicy.id
    roleDefinitionId: onboardingRole.id
  }
]

resource assignments 'Microsoft.Authorization/policyAssignments@2024-04-01' = [for item in policies: {
  name: take('acrguard-${item.key}-${uniqueString(managementGroup().id, environmentName)}', 24)
  location: location
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    displayName: 'ACR Guard (${item.key}): registry writes reach the remediator'
    policyDefinitionId: item.definitionId
    enforcementMode: 'Default'
  }
}]

// Each assignment's identity deploys with exactly the role its policy declares, at the group.
resource assignmentRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (item, i) in policies: {
  name: guid(managementGroup().id, item.key, environmentName, item.roleDefinitionId)
  properties: {
    roleDefinitionId: item.roleDefinitionId
    principalId: assignments[i].identity.principalId
    principalType: 'ServicePrincipal'
    description: 'ACR Guard policy ${item.key}: deploys the Event Grid plumbing in each subscription.'
  }
}]

// Both policies' identities grant each topic's identity on the dead-letter container (and only
// that role there), from a deployment in the account's resource group. The account's subscription
// must be under this group (a management-group deployment reaches resource groups in it).
module deadLetterGrants 'modules/deadletter-grants.bicep' = {
  name: 'acrguard-deadletter-grants-${uniqueString(managementGroup().id, environmentName)}'
  scope: resourceGroup(deadLetterIdParts[2], deadLetterIdParts[4])
  params: {
    environmentName: environmentName
    storageAccountName: deadLetterAccountName
    containerName: deadLetterContainerName
    principalIds: [
      assignments[0].identity.principalId
      assignments[1].identity.principalId
    ]
  }
}

// The diagnostic_settings rule's workspace actions, on each workspace it sends to and nowhere else.
module workspaceAccess 'modules/workspace-access.bicep' = [for workspaceId in diagnosticWorkspaceIds: {
  name: 'acrguard-workspace-${uniqueString(workspaceId, environmentName)}'
  scope: resourceGroup(split(workspaceId, '/')[2], split(workspaceId, '/')[4])
  params: {
    environmentName: environmentName
    workspaceName: last(split(workspaceId, '/'))
    principalId: principalId
  }
}]

// Existing subscriptions and topics are only brought in by a remediation task (new ones by the policy).
resource remediations 'Microsoft.PolicyInsights/remediations@2021-10-01' = [for (item, i) in policies: if (remediateExisting) {
  name: 'acrguard-${item.key}-${uniqueString(environmentName)}'
  properties: {
    policyAssignmentId: assignments[i].id
    resourceDiscoveryMode: 'ExistingNonCompliant'
  }
  dependsOn: [
    assignmentRoles
    deadLetterGrants
  ]
}]

@description('Resource ID of the custom role at the management group.')
output roleDefinitionId string = remediatorRole.id

@description('Resource IDs of the two policy assignments (attach, create).')
output policyAssignmentIds array = [for (item, i) in policies: assignments[i].id]
