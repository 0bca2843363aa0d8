"""``acrguard check-iac``: the policy that judges registries at run time judges templates and plans.

An input (an ARM template with its parameter file, or a Terraform plan) is read into the registry
documents it would deploy (acrguard/iac/arm_template.py, terraform.py), and each is decided by
run time's own ``plan()`` (acrguard/iac/judge.py). Bicep is read compiled (``az bicep build``):
docs/CLI.md and acrguard/iac/bicep.py say why.
"""
