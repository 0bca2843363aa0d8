"""ACR Guard: re-read a registry after an ARM write, compare it with policies.yaml, fix drift."""

__version__ = "0.1.0"
