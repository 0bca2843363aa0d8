"""The engine: one code path from a candidate registry to its decision, write and audit records."""

from acrguard.engine.core import Engine, Summary
from acrguard.engine.records import RegistryResult

__all__ = ["Engine", "RegistryResult", "Summary"]
