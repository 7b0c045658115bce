"""E2FGVI object removal: models, shot engine, image-sequence I/O.

Importing this package has no side effects and loads no heavy module; import the sub-packages you need.
"""

__version__ = "0.1.0"
