"""Nuke runs this file at start-up (GUI and batch) from every folder on its plug-in path.

The installer puts it at the top of the Remove Object plug-in folder, beside ``_vendor/`` (the torch-free host side
under its own import names). It only makes ``_vendor`` importable, so ``menu.py`` and scripts can import the node;
it registers nothing and imports nothing heavy (Nuke start-up stays fast).
"""

import os
import sys

_vendor = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_vendor")
if os.path.isdir(_vendor) and _vendor not in sys.path:
    sys.path.insert(0, _vendor)
