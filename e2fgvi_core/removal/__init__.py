"""The shot loop: request (the contract's types), engines (registry + implementations), plan, prepare, cache, ROI,
blend, sources, runner; ``removal.api`` is its public entry point.

Importing this package loads nothing heavy (no torch): import ``e2fgvi_core.removal.api`` for ``run_removal``.
See docs/engine.md and docs/architecture.md.
"""
