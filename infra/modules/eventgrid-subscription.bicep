// The event subscription: registry writes in this subscription -> the on_registry_write function.
// Created only once the function exists (see deployEventSubscriptions in main.bicep): Event Grid
// validates an AzureFunction endpoint when the subscription is created.

@description('Name of the existing system topic in this resource group.')
param systemTopicName string

@description('Resource ID of the Function App.')
param functionAppId string

@description('Resource ID of the dead-letter storage account (any subscription of the tenant).')
param deadLetterStorageAccountId string

@description('Name of the dead-letter blob container.')
param deadLetterContainerName string

@description('Name of the Event Grid triggered function (function_app.py).')
param functionName string = 'on_registry_write'

@minValue(1)
@maxValue(30)
@description('Delivery attempts before an event is dead-lettered.')
param maxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
@description('Minutes an event is retried before it is dead-lettered.')
param eventTimeToLiveInMinutes int = 1440

@description('Rules the policy enables: the filter passes the operations they react to.')
param enabledRules array

// Event types and operation names come from the file the handler reads (acrguard/events.py):
// base.operationNames plus those of each enabled rule, each once (union drops duplicates), i.e.
// acrguard.contract.operation_names(enabledRules).
var contract = loadJsonContent('../../acrguard/azure_contract.json')
var enabledRuleOperations = [for rule in enabledRules: contract.rules[rule].operationNames]
var operationNames = union(contract.base.operationNames, flatten(enabledRuleOperations))

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource registryWrites 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'acrguard-registry-writes'
  properties: {
    // AzureFunction endpoints are called with the function's Event Grid system key, which Event
    // Grid obtains through ARM at creation time: nothing to store here.
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: contract.eventTypes
      // One value per operation, one for the subject: Event Grid allows 25 filters and 25
      // values in all per subscription (tests/rules/test_least_privilege.py keeps every rule set under that).
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: operationNames
        }
        // Only a registry or a resource under it: diagnosticSettings/write is raised for every type.
        {
          operatorType: 'StringContains'
          key: 'subject'
          values: contract.subjectContains
        }
      ]
    }
    // At least once, then dead-letter: an event is never dropped silently.
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
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
  }
}

@description('Resource ID of the event subscription.')
output id string = registryWrites.id
