// Source: Azure/PSRule.Rules.Azure docs/en/rules/Azure.ACR.ExportPolicy.md at 521301e199ddc79104cc7a1cab00564efc33eb27 (the page's Bicep example)
resource containerRegistry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: registryName
  location: location
  sku: {
    name: 'Premium'
  }
  properties: {
    adminUserEnabled: false
    publicNetworkAccess: 'Disabled'
    policies: {
      exportPolicy: {
        status: 'disabled'
      }
    }
  }
}
