"""The engine: one code path from a candidate registry to its decision, write and audit records."""

from acrguard.engine.convergence import RegistryResult
from acrguard.engine.core import Engine, Summary

__all__ = ["Engine", "RegistryResult", "Summary"]
