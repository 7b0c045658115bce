"""The ``e2fgvi.remove_object`` operators (Video Sequencer and compositor).

Why two ways to run: from a script or in background mode (``blender -b``, ``bpy`` as a module) ``execute`` runs the
job to the end on the calling thread, so pipelines can batch it (``bpy.ops.e2fgvi.remove_object()``); from the UI,
``invoke`` starts the job on a worker thread and a modal timer shows progress in the status bar and the window
manager's progress cursor, and Esc cancels: the UI never freezes. Errors go to the info area as one line.
"""

from __future__ import annotations

import threading

import bpy

from . import adapter

TIMER_INTERVAL_S = 0.2


class _RemoveObjectBase:
    """What both operators share; subclasses say how to build the job and how to show the result."""

    bl_options = frozenset({"REGISTER", "UNDO"})

    _job = None
    _target = None
    _timer = None
    _thread = None

    def build(self, context):
        raise NotImplementedError

    def show(self, context, job, target):
        raise NotImplementedError

    def _prepare(self, context):
        try:
            return self.build(context)
        except adapter.BridgeError as exc:
            self.report({"ERROR"}, f"Remove Object: {exc.message}")
            return None

    def _conclude(self, context, job, target) -> set[str]:
        if job.error is not None:
            level = {"WARNING"} if job.error.code == "cancelled" else {"ERROR"}
            self.report(level, f"Remove Object: {job.error.message}")
            return {"CANCELLED"}
        made = self.show(context, job, target)
        self.report({"INFO"}, f"Remove Object: {len(job.plate.numbers)} frames in {job.result_dir} ({made.name})")
        return {"FINISHED"}

    def execute(self, context):
        prepared = self._prepare(context)
        if prepared is None:
            return {"CANCELLED"}
        job, target = prepared
        job.run()
        return self._conclude(context, job, target)

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        prepared = self._prepare(context)
        if prepared is None:
            return {"CANCELLED"}
        self._job, self._target = prepared
        self._thread = threading.Thread(target=self._job.run, name="e2fgvi-remove-object", daemon=True)
        self._thread.start()
        wm = context.window_manager
        wm.progress_begin(0, 100)
        self._timer = wm.event_timer_add(TIMER_INTERVAL_S, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
        if event.type != "TIMER" and not job.done.is_set():
            return {"PASS_THROUGH"}
        wm = context.window_manager
        if job.progress is not None:
            wm.progress_update(int(100 * job.progress.fraction))
        context.workspace.status_text_set(job.status_text())
        if not job.done.is_set():
            return {"RUNNING_MODAL"}
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)
        return self._conclude(context, job, self._target)


class E2FGVI_OT_remove_object(_RemoveObjectBase, bpy.types.Operator):
    """Remove Object in the Video Sequencer (the tooltip is ``bl_description``)."""

    bl_idname = "e2fgvi.remove_object"
    bl_description = (
        "Remove the object of the selected matte strip from the active strip; adds the result on the channel "
        "above. A third selected strip, on a channel above the matte, is a reference (painted clean frames)"
    )
    bl_label = "Remove Object"

    @classmethod
    def poll(cls, context):
        return context.scene is not None and context.scene.sequence_editor is not None

    def build(self, context):
        return adapter.sequencer_job(context.scene, context.scene.e2fgvi)

    def show(self, context, job, target):
        return adapter.add_result_strip(context.scene, job, target)


class E2FGVI_OT_remove_object_compositor(_RemoveObjectBase, bpy.types.Operator):
    """Remove Object in the compositor (the tooltip is ``bl_description``)."""

    bl_idname = "e2fgvi.remove_object_compositor"
    bl_description = (
        "Remove the object of the selected matte Image node from the active Image node; adds a result Image "
        "node. A third selected Image node, placed above the matte's on the canvas, is a reference (painted "
        "clean frames)"
    )
    bl_label = "Remove Object (Compositor)"

    @classmethod
    def poll(cls, context):
        return context.scene is not None and getattr(context.scene, "compositing_node_group", None) is not None

    def build(self, context):
        return adapter.compositor_job(context.scene, context.scene.e2fgvi)

    def show(self, context, job, target):
        return adapter.add_result_node(context.scene, job, target)


CLASSES = (E2FGVI_OT_remove_object, E2FGVI_OT_remove_object_compositor)
