// The Event Grid system topic for this subscription's ARM events. Azure allows one system topic
// per source: if the subscription already has a Microsoft.Resources.Subscriptions system topic,
// this deployment fails with a conflict (see docs/DEPLOY.md).

@description('Name of the system topic.')
param name string

@description('Tags for the system topic.')
param tags object

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  // Subscription-level ARM events are not regional.
  location: 'global'
  tags: tags
  // Its own identity dead-letters to blob storage without keys or SAS tokens.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

@description('Name of the system topic.')
output name string = systemTopic.name

@description('Resource ID of the system topic.')
output id string = systemTopic.id

@description('Principal ID of the system topic identity (dead-letter writer).')
output principalId string = systemTopic.identity.principalId
