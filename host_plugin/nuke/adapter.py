"""Every call into Nuke's Python API, in one module (the rest of the Nuke node is host-free and tested as is).

Why one module: Nuke cannot run in CI, so whatever touches ``nuke`` is kept small, written against Foundry's
documented API (``createNode``, knob classes, ``execute``, ``ProgressTask``, ``root()``, menus, ``addOn*``
callbacks) and exercised through a stand-in of that API (``tests/standins/nuke``). ``node.py`` decides *what* to
do; this module only translates it into Nuke calls.

The Group holds: ``Input`` nodes ``Source`` (0), ``Matte`` (1) and ``Reference`` (2), three ``Write`` nodes that
render them to EXR (``WriteSource``, ``WriteMatte``, ``WriteReference``; disabled except while Process renders with
them, so a farm render of the script, ``nuke -x``, never executes them), a ``Read`` of the results (``Result``,
``on_error=error``: a frame that was not processed shows Nuke's error, never black) and the ``Output``. A node made
before the Reference input existed gets it (and its Write) the first time a reference is rendered.

Channels: a Write set to ``rgba`` writes an alpha of 0 where its input has none (Nuke fills a channel its input lacks
with black), which would make a matte empty and a reference untrusted; so the matte and reference Writes write alpha
only when the input has one (``Node.channels()``), else RGB.

Threads: Nuke's API belongs to its main thread. Process's server work runs on a worker thread that calls nothing
here except ``Progress`` (Foundry's ``ProgressTask`` example drives one from a thread) and ``in_main_thread``
(``nuke.executeInMainThread``), through which every knob change reaches Nuke.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import nuke

CLASS_KNOB = "e2fgvi_class"  # hidden knob naming our Group's role; Nuke gives every Group the class "Group"


@dataclass(frozen=True)
class KnobSpec:
    """A knob to add: ``kind`` is one of tab, text, int, float, bool, choice, string, file, button, hidden (a string
    kept in the script with no widget at all: the INVISIBLE flag)."""

    kind: str
    name: str
    label: str
    tooltip: str = ""
    default: Any = None
    values: tuple[str, ...] = ()
    command: str = ""


_KNOB_CLASSES = {
    "int": "Int_Knob",
    "float": "Double_Knob",
    "bool": "Boolean_Knob",
    "string": "String_Knob",
    "file": "File_Knob",
}


def create_group(role: str, knobs: Iterable[KnobSpec]) -> Any:
    """A new Group node with our knobs and the internal Read/Write graph; returns it."""
    group = nuke.createNode("Group", inpanel=False)
    # INVISIBLE, not setVisible(False): a hidden knob still has a widget, and a widget added before the first tab
    # makes Nuke open an empty "User" tab on the panel; an INVISIBLE knob has no widget (NDK "Knob Flags").
    marker = nuke.String_Knob(CLASS_KNOB, "class", role)
    marker.setFlag(nuke.INVISIBLE)
    group.addKnob(marker)
    for spec in knobs:
        group.addKnob(_make_knob(spec))
    group.begin()
    try:
        source = nuke.nodes.Input(name="Source")
        matte = nuke.nodes.Input(name="Matte")
        _add_write("WriteSource", source, "all")
        _add_write("WriteMatte", matte, "rgba")
        _add_write("WriteReference", nuke.nodes.Input(name="Reference"), "rgba")
        read = nuke.nodes.Read(name="Result")
        read["on_error"].setValue("error")
        read["raw"].setValue(True)
        output = nuke.nodes.Output(name="Output")
        output.setInput(0, read)
    finally:
        group.end()
    return group


def _add_write(name: str, upstream: Any, channels: str) -> Any:
    """An internal EXR Write of ``upstream`` (call inside the Group), disabled until a render enables it."""
    write = nuke.nodes.Write(name=name)
    write["file_type"].setValue("exr")
    write["channels"].setValue(channels)
    write["create_directories"].setValue(True)
    write["raw"].setValue(True)
    write["disable"].setValue(True)  # enabled only inside render_inputs / render_reference
    write.setInput(0, upstream)
    return write


def _reference_write(group: Any) -> Any:
    """The Reference input's Write, added to a node made before the Reference input existed."""
    write = group.node("WriteReference")
    if write is None:
        group.begin()
        try:
            write = _add_write("WriteReference", nuke.nodes.Input(name="Reference"), "rgba")
        finally:
            group.end()
    return write


def _make_knob(spec: KnobSpec) -> Any:
    if spec.kind == "tab":
        knob = nuke.Tab_Knob(spec.name, spec.label)
    elif spec.kind == "hidden":
        knob = nuke.String_Knob(spec.name, spec.label)
        knob.setFlag(nuke.INVISIBLE)
    elif spec.kind == "text":
        knob = nuke.Text_Knob(spec.name, spec.label, str(spec.default or ""))
    elif spec.kind == "choice":
        knob = nuke.Enumeration_Knob(spec.name, spec.label, list(spec.values))
    elif spec.kind == "button":
        knob = nuke.PyScript_Knob(spec.name, spec.label, spec.command)
    else:
        knob = getattr(nuke, _KNOB_CLASSES[spec.kind])(spec.name, spec.label)
    if spec.default is not None and spec.kind not in ("tab", "text", "button"):
        knob.setValue(spec.default)
    if spec.tooltip:
        knob.setTooltip(spec.tooltip)
    return knob


def role_of(node: Any) -> str | None:
    """Our role name for a node made by ``create_group`` (None for any other node)."""
    knob = node.knob(CLASS_KNOB)
    return str(knob.value()) if knob is not None else None


def nodes_with_role(role: str) -> list[Any]:
    """Every top-level node of the open script made by ``create_group(role, ...)``."""
    return [n for n in nuke.allNodes(group=nuke.root()) if role_of(n) == role]


def knob_values(node: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: node[name].value() for name in names}


def set_knob(node: Any, name: str, value: Any) -> None:
    node[name].setValue(value)


def hidden_value(node: Any, name: str) -> str:
    """A ``hidden`` knob's text ('' when the node was made before the knob existed)."""
    knob = node.knob(name)
    return str(knob.value() or "") if knob is not None else ""


def set_hidden_value(node: Any, name: str, value: str) -> None:
    """Set a ``hidden`` knob, adding it (INVISIBLE) to a node made before it existed."""
    if node.knob(name) is None:
        node.addKnob(_make_knob(KnobSpec("hidden", name, name)))
    node[name].setValue(value)


def set_write_paths(group: Any, source: str, source_proxy: str, matte: str, matte_proxy: str) -> None:
    """Point the internal Writes at the input sequences (full resolution and proxy), 32-bit float: what the
    engine reads is what the comp had, with nothing rounded to half."""
    for name, full, proxy in (("WriteSource", source, source_proxy), ("WriteMatte", matte, matte_proxy)):
        _point_write(group.node(name), full, proxy)


def _point_write(write: Any, full: str, proxy: str) -> None:
    write["file"].setValue(full)
    write["proxy"].setValue(proxy)
    write["datatype"].setValue("32 bit float")


def _input_has_alpha(group: Any, index: int) -> bool:
    upstream = group.input(index)
    return upstream is not None and "rgba.alpha" in upstream.channels()


def render_inputs(group: Any, first: int, last: int, with_matte: bool) -> None:
    """Render Source (and Matte) to EXR over ``first..last`` with ``nuke.execute`` (proxy mode as the script is).

    Raises ``RuntimeError`` with Nuke's message when an upstream node errors (e.g. a Read with missing frames).
    """
    if with_matte:  # a matte without alpha is its RGB (an rgba Write would add an empty alpha, which wins)
        group.node("WriteMatte")["channels"].setValue("rgba" if _input_has_alpha(group, 1) else "rgb")
    names = ("WriteSource", "WriteMatte") if with_matte else ("WriteSource",)
    for name in names:
        _execute(group.node(name), [(int(first), int(last))])


def render_reference(group: Any, full: str, proxy: str, spans: list[tuple[int, int]]) -> None:
    """Render the Reference input to EXR at the reference frames only (``spans``: inclusive first/last pairs), RGBA
    when it has an alpha (which pixels to trust), else RGB (every pixel trusted). Raises ``RuntimeError``."""
    write = _reference_write(group)
    _point_write(write, full, proxy)
    write["channels"].setValue("rgba" if _input_has_alpha(group, 2) else "rgb")
    _execute(write, spans)


def _execute(write: Any, spans: list[tuple[int, int]]) -> None:
    write["disable"].setValue(False)
    try:
        for first, last in spans:
            nuke.execute(write, int(first), int(last), 1)
    finally:
        write["disable"].setValue(True)


def disable_writes(group: Any) -> None:
    """Disable the internal Writes (a script saved before they were kept disabled would render them on a farm)."""
    for name in ("WriteSource", "WriteMatte", "WriteReference"):
        write = group.node(name)
        if write is not None and not write["disable"].value():
            write["disable"].setValue(True)


def input_connected(group: Any, index: int) -> bool:
    return group.input(index) is not None


def point_result(group: Any, full: str, proxy: str, first: int, last: int) -> None:
    """Show the result sequences through the internal Read; frames not on disk show Nuke's Read error.

    The Read is reloaded: Nuke keeps showing the frames it cached for a path until its ``reload`` button runs, so
    after a second Process (same paths, new pixels) the artist would see the first run's frames."""
    read = group.node("Result")
    read["file"].setValue(full)
    read["proxy"].setValue(proxy)
    read["first"].setValue(int(first))
    read["last"].setValue(int(last))
    read["reload"].execute()


def script_range() -> tuple[int, int]:
    root = nuke.root()
    return int(root["first_frame"].value()), int(root["last_frame"].value())


def proxy_mode() -> bool:
    return bool(nuke.root()["proxy"].value())


def script_path() -> str:
    """The open script's file ('' for an unsaved script)."""
    return str(nuke.root()["name"].value() or "")


def node_name(node: Any) -> str:
    return str(node.fullName())


def node_exists(node: Any) -> bool:
    """Whether ``node`` is still in the script: a deleted node's Python object raises ValueError on every call."""
    try:
        node.fullName()
    except ValueError:
        return False
    return True


class Progress:
    """``nuke.ProgressTask`` with a percent and a message; ``cancelled()`` is the user's Cancel button."""

    def __init__(self, title: str) -> None:
        self._task = nuke.ProgressTask(title)

    def update(self, percent: int, text: str) -> None:
        self._task.setProgress(max(0, min(100, int(percent))))
        self._task.setMessage(text)

    def cancelled(self) -> bool:
        return bool(self._task.isCancelled())

    def close(self) -> None:
        del self._task  # Nuke closes the window when the task object goes away


def this_node() -> Any:
    return nuke.thisNode()


def is_gui() -> bool:
    """Whether Nuke runs with its interface (``nuke -t`` and ``nuke -x`` have no event loop to run queued calls)."""
    return bool(nuke.env.get("gui", False))


def in_main_thread(call: Callable[..., Any], *args: Any) -> None:
    """Run ``call(*args)`` on Nuke's main thread: now when this is it, else queued (``nuke.executeInMainThread``)."""
    if threading.current_thread() is threading.main_thread():
        call(*args)
    else:
        nuke.executeInMainThread(call, args)


def this_knob_name() -> str:
    return str(nuke.thisKnob().name())


def message(text: str) -> None:
    """A one-line message for the artist (a dialog in the GUI, the terminal in batch mode)."""
    nuke.message(text)


def add_menu_command(menu_path: str, command: Callable[[], Any], shortcut: str) -> None:
    """Add ``menu_path`` (e.g. ``E2FGVI/Remove Object``) to the Nodes menu with a keyboard shortcut."""
    nuke.menu("Nodes").addCommand(menu_path, command, shortcut)


def add_callbacks(
    on_script_load: Callable[[], None], on_knob_changed: Callable[[], None], on_destroy: Callable[[], None]
) -> None:
    """Register the script-load callback (re-find results), and knob-changed and destroy callbacks on Group nodes
    (the callbacks check ``role_of(this_node())``: every Group has the Nuke class "Group")."""
    nuke.addOnScriptLoad(on_script_load)
    nuke.addKnobChanged(on_knob_changed, nodeClass="Group")
    nuke.addOnDestroy(on_destroy, nodeClass="Group")
