"""Why Bicep is checked compiled (acrguard/iac/bicep.py): what pycep-parser's tree loses, measured.

If a pycep release fixes these, the test fails, and reading ``.bicep`` directly is worth another look.
"""

from __future__ import annotations

from pycep import BicepParser

REGISTRY = """
param registryName string
resource acr 'Microsoft.ContainerRegistry/registries@2023-07-01' = {{
  name: {name}
  location: 'eastus'
  sku: {{
    name: 'Premium'
  }}
  properties: {{
    publicNetworkAccess: {access}
  }}
}}
"""


def config(name: str, access: str = "'Disabled'") -> dict:
    tree = BicepParser().parse(text=REGISTRY.format(name=name, access=access))
    return tree["resources"]["acr"]["config"]


def test_a_parameter_and_a_string_parse_alike() -> None:
    """``name: registryName`` (the parameter) and ``name: 'registryName'`` (a literal) give one tree."""
    assert config("registryName")["name"] == config("'registryName'")["name"] == "registryName"


def test_the_ternary_binds_tighter_than_equality() -> None:
    """``x == 'abc' ? 'Disabled' : 'Enabled'`` comes back as ``x == ('abc' ? ...)``: evaluated, a wrong
    value with no error. Compiled ARM JSON has ``if(equals(...), ...)``: nothing to misread."""
    access = config("registryName", "registryName == 'abc' ? 'Disabled' : 'Enabled'")["properties"][
        "publicNetworkAccess"
    ]
    operator = access["operator"]
    assert operator["type"] == "equals"
    assert operator["operands"]["operand_2"]["operator"]["type"] == "conditional"
