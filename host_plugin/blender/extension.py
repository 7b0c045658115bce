"""The installed extension's ``__init__.py`` (``e2fgvi install blender`` copies this file there under that name).

Why a shim: Blender imports an extension as ``bl_ext.<repository>.e2fgvi_remove_object``, but the add-on is part of
the host side package (its adapter imports the bridge relatively). The installer puts that package, with the client
and the protocol module only, into ``_vendor/`` beside this file; this shim makes it importable and hands
``register``/``unregister`` over to the add-on. The vendored names are unique (no ``server`` or ``utils`` to
collide with another add-on's modules).
"""

import os
import sys

_VENDOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_vendor")


def _addon():
    """The vendored host side's ``blender`` package (the one folder of ``_vendor`` that has one)."""
    if _VENDOR not in sys.path:
        sys.path.insert(0, _VENDOR)
    import importlib

    names = [
        n for n in sorted(os.listdir(_VENDOR)) if os.path.isfile(os.path.join(_VENDOR, n, "blender", "__init__.py"))
    ]
    if len(names) != 1:
        raise ImportError(f"{_VENDOR} must hold exactly one host package with a blender add-on; found {names}")
    return importlib.import_module(f"{names[0]}.blender")


def register():
    _addon().register()


def unregister():
    _addon().unregister()
