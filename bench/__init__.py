"""ACR Guard benchmarks: ``python -m bench`` (``make bench``) measures and writes docs/BENCHMARKS.md.

Kept empty on purpose: child processes run ``python -m bench.<child>`` for cold starts, and
anything imported here would be billed to them.
"""
