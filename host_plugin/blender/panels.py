"""The Remove Object settings (one property per bridge parameter, defaults from ``describe()``) and its panels."""

from __future__ import annotations

import bpy

from . import adapter

_KIND = {"int": bpy.props.IntProperty, "float": bpy.props.FloatProperty, "bool": bpy.props.BoolProperty}
"""``describe()``'s type -> the property (a checkbox for a bool); anything else is text, choices a menu."""


def _property(param: dict):
    """A Blender property for one entry of the bridge's ``describe()["params"]``."""
    common = {"name": param["label"], "description": param["help"]}
    if param.get("choices"):
        items = [(c, c, "") for c in param["choices"]]
        return bpy.props.EnumProperty(items=items, default=param["default"], **common)
    if param["type"] in _KIND:
        limits = {short: param[k] for k, short in (("minimum", "min"), ("maximum", "max")) if param.get(k) is not None}
        return _KIND[param["type"]](default=param["default"], **limits, **common)
    return bpy.props.StringProperty(default=param["default"] or "", **common)


def _settings_class():
    annotations = {
        p["name"]: _property(p) for p in adapter.describe()["params"] if p["name"] not in adapter.SETTINGS_SKIP
    }
    annotations["output_dir"] = bpy.props.StringProperty(
        name="Output folder",
        description="where result sequences go ('//' is the .blend's folder)",
        default=adapter.DEFAULT_OUTPUT_DIR,
        subtype="DIR_PATH",
    )
    return type("E2fgviSettings", (bpy.types.PropertyGroup,), {"__annotations__": annotations})


E2fgviSettings = _settings_class()


def draw_settings(layout, settings) -> None:
    for param in adapter.describe()["params"]:
        if param["name"] not in adapter.SETTINGS_SKIP:
            layout.prop(settings, param["name"])
    layout.prop(settings, "output_dir")


class SEQUENCER_PT_e2fgvi_remove_object(bpy.types.Panel):
    bl_label = "Remove Object"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Remove Object"

    def draw(self, context):
        self.layout.operator("e2fgvi.remove_object")
        draw_settings(self.layout, context.scene.e2fgvi)


class NODE_PT_e2fgvi_remove_object(bpy.types.Panel):
    bl_label = "Remove Object"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Remove Object"

    @classmethod
    def poll(cls, context):
        return getattr(context.space_data, "tree_type", "") == "CompositorNodeTree"

    def draw(self, context):
        self.layout.operator("e2fgvi.remove_object_compositor")
        draw_settings(self.layout, context.scene.e2fgvi)


CLASSES = (E2fgviSettings, SEQUENCER_PT_e2fgvi_remove_object, NODE_PT_e2fgvi_remove_object)
