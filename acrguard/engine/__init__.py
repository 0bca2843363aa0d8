"""The engine: one code path from a candidate registry to its decision, write and audit records."""

from acrguard.engine.core import Engine
from acrguard.engine.results import RegistryResult, Summary

__all__ = ["Engine", "RegistryResult", "Summary"]
