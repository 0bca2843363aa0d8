// The ACR Guard workbook: decisions over time, the exposure window, drift by registry and caller,
// exemptions in force and what needs a person. Its layout is infra/workbook/acrguard.workbook.json;
// its queries are infra/queries/workbook-*.kql, copied into the JSON by `python -m tests.workbook_sync`.

@description('Azure region of the workbook.')
param location string

@description('Tags for the workbook.')
param tags object

@description('Resource ID of the Log Analytics workspace the workbook queries.')
param workspaceId string

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(workspaceId, 'acrguard-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'ACR Guard'
    category: 'workbook'
    sourceId: workspaceId
    serializedData: replace(loadTextContent('../workbook/acrguard.workbook.json'), '__WORKSPACE_ID__', workspaceId)
  }
}

@description('Resource ID of the workbook.')
output id string = workbook.id
