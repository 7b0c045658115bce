"""The shot engine: plan, prepare, cache, ROI, blend, runner; ``engine.api`` is its public entry point.

Importing this package loads nothing heavy (no torch): import ``e2fgvi_core.removal.api`` for ``run_removal``.
See docs/engine.md.
"""
