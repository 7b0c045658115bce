"""Nuke runs this file at start-up (GUI and batch) from every folder on its plug-in path.

It only makes sure the folder that holds this file is importable, so ``menu.py`` and scripts can import the
Remove Object node; it registers nothing and imports nothing heavy (Nuke start-up stays fast).
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.insert(0, _here)
