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
targetScope = 'managementGroup'

@description('azd environment name; part of the role, policy and assignment names.')
param environmentName string

@description('Principal ID of the ACR Guard function identity (output of main.bicep).')
param principalId string

@description('Resource ID of the Function App that receives the events (output of main.bicep).')
param functionAppId string

@description('Resource ID of the dead-letter storage account.')
param deadLetterStorageAccountId string

@description('Name of the dead-letter blob container.')
param deadLetterContainerName string = 'deadletter'

@description('Resource group created in a subscription that has no system topic yet.')
param resourceGroupName string = 'rg-acrguard-events'

@description('Region of the policy assignments\' identities and of that resource group.')
param location string = deployment().location

@description('Start remediation tasks for the subscriptions that exist today.')
param remediateExisting bool = true

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
// Built-in roles the policies' identities need to deploy: EventGrid Contributor (topic and event
// subscription) and Contributor (the resource group, and the nested deployment).
var eventGridContributor = '1e241071-0855-49ea-94dc-649edcd759de'
var contributor = 'b24988ac-6180-48a3-a0d2-d84d3f2d1e3b'

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

resource remediatorAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, principalId, remediatorRole.id)
  properties: {
    roleDefinitionId: remediatorRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'ACR Guard function identity: remediate container registries in every subscription under this group.'
  }
}

// The event subscription both policies deploy (the shape of modules/eventgrid-subscription.bicep).
var eventSubscriptionProperties = {
  destination: {
    endpointType: 'AzureFunction'
    properties: {
      resourceId: '${functionAppId}/functions/on_registry_write'
      maxEventsPerBatch: 1
      preferredBatchSizeInKilobytes: 64
    }
  }
  eventDeliverySchema: 'EventGridSchema'
  filter: {
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
  retryPolicy: {
    maxDeliveryAttempts: 30
    eventTimeToLiveInMinutes: 1440
  }
  deadLetterDestination: {
    endpointType: 'StorageBlob'
    properties: {
      resourceId: deadLetterStorageAccountId
      blobContainerName: deadLetterContainerName
    }
  }
}

// 1. A subscription that already has a system topic for its ARM events: attach to it.
resource attachPolicy 'Microsoft.Authorization/policyDefinitions@2023-04-01' = {
  name: guid(managementGroup().id, 'acrguard-attach', environmentName)
  properties: {
    displayName: 'ACR Guard: registry writes from an existing subscription system topic'
    description: 'Adds the acrguard-registry-writes event subscription to an existing Microsoft.Resources.Subscriptions system topic.'
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
              }
              template: {
                '$schema': 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'
                contentVersion: '1.0.0.0'
                parameters: {
                  topicName: {
                    type: 'string'
                  }
                }
                resources: [
                  {
                    type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
                    apiVersion: '2022-06-15'
                    name: '[concat(parameters(\'topicName\'), \'/${eventSubscriptionName}\')]'
                    properties: eventSubscriptionProperties
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
            '/providers/Microsoft.Authorization/roleDefinitions/${contributor}'
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
                      template: {
                        '$schema': 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'
                        contentVersion: '1.0.0.0'
                        resources: [
                          {
                            type: 'Microsoft.EventGrid/systemTopics'
                            apiVersion: '2022-06-15'
                            name: '[concat(\'evgt-acrguard-\', subscription().subscriptionId)]'
                            location: 'global'
                            properties: {
                              source: '[subscription().id]'
                              topicType: 'Microsoft.Resources.Subscriptions'
                            }
                          }
                          {
                            type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
                            apiVersion: '2022-06-15'
                            name: '[concat(\'evgt-acrguard-\', subscription().subscriptionId, \'/${eventSubscriptionName}\')]'
                            dependsOn: [
                              '[resourceId(\'Microsoft.EventGrid/systemTopics\', concat(\'evgt-acrguard-\', subscription().subscriptionId))]'
                            ]
                            properties: eventSubscriptionProperties
                          }
                        ]
                      }
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

var policies = [
  {
    key: 'attach'
    definitionId: attachPolicy.id
    role: eventGridContributor
  }
  {
    key: 'create'
    definitionId: createPolicy.id
    role: contributor
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
  name: guid(managementGroup().id, item.key, environmentName, item.role)
  properties: {
    roleDefinitionId: tenantResourceId('Microsoft.Authorization/roleDefinitions', item.role)
    principalId: assignments[i].identity.principalId
    principalType: 'ServicePrincipal'
    description: 'ACR Guard policy ${item.key}: deploys the Event Grid plumbing in each subscription.'
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
  ]
}]

@description('Resource ID of the custom role at the management group.')
output roleDefinitionId string = remediatorRole.id

@description('Resource IDs of the two policy assignments (attach, create).')
output policyAssignmentIds array = [for (item, i) in policies: assignments[i].id]
