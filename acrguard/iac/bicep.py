"""Bicep: read compiled, as the ARM template JSON ``az bicep build`` writes.

Reading ``.bicep`` directly through pycep-parser (0.5/0.6, the parser the tests use for infra/)
was measured on the registry snippets of PSRule's rule pages (tests/iac/test_iac_bicep_choice.py
shows each):

- its tree loses the difference between a name and a string: ``name: registryName`` (a parameter)
  and ``name: 'registryName'`` (a literal) parse to the same value, so a parameter's value and a
  literal cannot be told apart;
- ``x == 'abc' ? 'Disabled' : 'Enabled'`` parses as ``x == ('abc' ? 'Disabled' : 'Enabled')``:
  evaluating that tree gives a wrong value, and a wrong verdict, without any error;
- it keeps no line numbers, and building the parser takes seconds (a grammar compile per process).

The compiled JSON has none of these problems: Bicep's own compiler resolves names, precedence,
modules' parameters and loops, and the expressions left in it are ARM's (acrguard/iac/expressions.py).
"""

from __future__ import annotations

COMPILE_FIRST = (
    "Bicep is checked compiled: run `az bicep build --file {file} --outfile {json}` "
    "(or `bicep build`), then check {json}; docs/CLI.md (check-iac) says why"
)
