"""Remove Object for Blender (4.2+ extension; works in 5.0): a Video Sequencer and a compositor operator.

Only the modules of this package import ``bpy``; the job is the bridge's (``e2fgvi_host.bridge``). Installed by
``e2fgvi install blender`` (see docs/hosts.md); in a script: ``register()`` then
``bpy.ops.e2fgvi.remove_object()`` with the plate strip active and its matte strip selected.
"""

from __future__ import annotations

import bpy

from . import operators, panels


def register() -> None:
    for cls in (*panels.CLASSES, *operators.CLASSES):
        bpy.utils.register_class(cls)
    bpy.types.Scene.e2fgvi = bpy.props.PointerProperty(type=panels.E2fgviSettings)


def unregister() -> None:
    del bpy.types.Scene.e2fgvi
    for cls in reversed((*panels.CLASSES, *operators.CLASSES)):
        bpy.utils.unregister_class(cls)
