"""A small stand-in for the public ``nuke`` Python API, written from Foundry's Nuke Python documentation.

Why it exists: Nuke cannot run here, yet ``host_plugin/nuke/adapter.py`` must be exercised for real. This module
implements only the calls the adapter makes, with the documented names and semantics: ``createNode``, ``nodes``,
``toNode``, ``allNodes``, ``root``, ``execute``, ``ProgressTask``, ``menu``, the ``addOn*`` callbacks, ``thisNode``,
``message``, ``pluginAddPath``, ``scriptSave``/``scriptOpen``/``scriptClear``, the knob classes and Group nodes.
Images are real: a Read node reads its file through OpenImageIO (a missing file is a render error, as with the
Read's ``on_error=error``), an Input node inside a Group returns the Group's input, and ``execute`` on a Write node
writes EXR files through OpenImageIO. Proxy mode (``root()['proxy']``) scales images by ``root()['proxy_scale']``
and makes a Write write to its ``proxy`` file, as Nuke does.

Where Nuke hurts, so does the stand-in (each from Foundry's documentation, see docs/hosts.md):
- Threads: Nuke's API belongs to its main thread; another thread reaches it through ``executeInMainThread`` (runs
  later, when the main loop gets to it) or ``executeInMainThreadWithResult``. Here knob reads and writes, node
  creation, ``execute`` and ``message`` from another thread raise, and queued calls run only when a test turns the
  main loop (``standin.run_main_loop``). ``ProgressTask`` may be driven from any thread (Foundry's example does).
- A Read caches the frames it has read, per path, until its ``reload`` button runs: after new files are written
  under the same path it keeps showing the old pixels.
- ``setVisible(False)`` only hides a knob's widget; the ``INVISIBLE`` flag means no widget at all (NDK "Knob
  Flags"). A user knob with a widget added before any ``Tab_Knob`` puts a "User" tab on the panel
  (``Node.panel_tabs()``, a test hook).
- knobChanged callbacks run for every knob change, panel edits (``standin.panel_edit``) and ``setValue`` alike.
- ``standin.render_script()`` is ``nuke -x script.nk``: every enabled Write node of the script, inside Groups too,
  over the script's frame range. ``execute`` on a disabled Write raises.
- A Write writes every channel of its ``channels`` set; one its input lacks is written black (a Write set to
  ``rgba`` over an image without alpha writes an alpha of 0). ``Node.channels()`` names the channels a node gives
  (``rgba.red`` ... ``rgba.alpha``, others ``other.<name>``), so a caller can ask before it writes.
- ``nuke.delete(node)`` runs the onDestroy callbacks, then detaches the Python object: every later call on it or on
  one of its knobs raises ``ValueError("A PythonObject is not attached to a node")``, as Nuke does.
- An Input node inside a Group with nothing connected to that input of the Group renders nothing (an error here;
  Nuke gives black), so a caller must check ``Group.input(i)`` before it renders a branch.

What it does not do: tcl expressions, real node graphs beyond Read/Input/Write/Output/Dot, .nk syntax (a "script"
here is JSON of node classes, knob values and connections: enough to test that knob values persist).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import OpenImageIO as oiio

INVISIBLE = 0x400
NO_ANIMATION = 0x100
STARTLINE = 0x1000


class RenderError(RuntimeError):
    """What Nuke reports when a node in the tree has an error at a frame (``nuke.execute`` raises RuntimeError)."""


class ThreadError(RuntimeError):
    """A call into Nuke's API from a thread other than its main thread (Nuke: undefined behaviour, often a crash)."""


def _main_thread_only(what: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        _state.thread_violations.append(what)
        raise ThreadError(f"{what} called outside Nuke's main thread: use nuke.executeInMainThread")


env = {"gui": True}  # nuke.env["gui"]: False for `nuke -t` / `nuke -x`


# --- knobs ---------------------------------------------------------------------------------------------------
_DETACHED = "A PythonObject is not attached to a node"


class Knob:
    def __init__(self, name: str, label: str | None = None, value: Any = None) -> None:
        self._name = name
        self._label = name if label is None else label
        self._value = value
        self._tooltip = ""
        self._flags = 0
        self._hidden = False
        self._enabled = True
        self._node: Node | None = None

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def Class(self) -> str:
        return type(self).__name__

    def value(self) -> Any:
        _main_thread_only(f"{self._name}.value()")
        self._check_attached()
        return self._value

    def _check_attached(self) -> None:
        if self._node is not None and self._node._deleted:
            raise ValueError(_DETACHED)

    def getValue(self) -> Any:
        return self.value()

    def setValue(self, value: Any) -> bool:
        _main_thread_only(f"{self._name}.setValue()")
        self._check_attached()
        self._value = value
        if self._node is not None:
            self._node._knob_changed(self)
        return True

    def setTooltip(self, text: str) -> None:
        self._tooltip = text

    def tooltip(self) -> str:
        return self._tooltip

    def setFlag(self, flag: int) -> None:
        self._flags |= flag

    def getFlag(self, flag: int) -> bool:
        return bool(self._flags & flag)

    def setEnabled(self, enabled: bool) -> None:
        self._enabled = bool(enabled)

    def enabled(self) -> bool:
        return self._enabled

    def setVisible(self, visible: bool) -> None:
        """Show or hide the knob's widget; the widget (and the tab it makes) still exists."""
        self._hidden = not visible

    def visible(self) -> bool:
        return not self._hidden and not self._flags & INVISIBLE

    def clearFlag(self, flag: int) -> None:
        self._flags &= ~flag

    def has_widget(self) -> bool:
        """Test hook: whether the panel makes a widget for this knob (INVISIBLE: none)."""
        return not self._flags & INVISIBLE

    def node(self) -> Node | None:
        return self._node


class Tab_Knob(Knob):
    pass


class Text_Knob(Knob):
    def __init__(self, name: str, label: str | None = None, text: str = "") -> None:
        super().__init__(name, label, text)


class String_Knob(Knob):
    def __init__(self, name: str, label: str | None = None, text: str = "") -> None:
        super().__init__(name, label, text)

    def setValue(self, value: Any) -> bool:
        return super().setValue(str(value))


class File_Knob(String_Knob):
    pass


class Int_Knob(Knob):
    def __init__(self, name: str, label: str | None = None) -> None:
        super().__init__(name, label, 0)

    def setValue(self, value: Any) -> bool:
        return super().setValue(int(value))


class Double_Knob(Knob):
    def __init__(self, name: str, label: str | None = None) -> None:
        super().__init__(name, label, 0.0)
        self._range = (0.0, 1.0)

    def setRange(self, low: float, high: float) -> None:
        self._range = (float(low), float(high))

    def setValue(self, value: Any) -> bool:
        return super().setValue(float(value))


class Boolean_Knob(Knob):
    def __init__(self, name: str, label: str | None = None, value: bool = False) -> None:
        super().__init__(name, label, bool(value))

    def setValue(self, value: Any) -> bool:
        return super().setValue(bool(value))


class Enumeration_Knob(Knob):
    """``value()`` is the chosen item's text; ``setValue`` takes the text or its index (as documented)."""

    def __init__(self, name: str, label: str | None, values: list[str]) -> None:
        super().__init__(name, label, values[0] if values else "")
        self._values = [str(v) for v in values]

    def values(self) -> list[str]:
        return list(self._values)

    def numValues(self) -> int:
        return len(self._values)

    def setValue(self, value: Any) -> bool:
        if isinstance(value, int) and not isinstance(value, bool):
            value = self._values[value]
        if value not in self._values:
            raise ValueError(f"{self._name}: {value!r} is not one of {self._values}")
        return super().setValue(value)


class PyScript_Knob(Knob):
    """A button; ``execute()`` runs its command with ``nuke.thisNode()`` set to the owning node."""

    def __init__(self, name: str, label: str | None = None, command: str = "") -> None:
        super().__init__(name, label, command)

    def command(self) -> str:
        return self._value

    def setCommand(self, command: str) -> None:
        self._value = command

    def execute(self) -> None:
        _state.this_node.append(self._node)
        try:
            exec(self._value, {"nuke": _module()})  # noqa: S102 - a PyScript_Knob runs Python, as in Nuke
        finally:
            _state.this_node.pop()


class _ReloadKnob(PyScript_Knob):
    """A Read's ``reload`` button: forget the frames the Read cached, so the files are read again."""

    def execute(self) -> None:
        _main_thread_only("reload")
        if self._node is not None:
            self._node._frame_cache.clear()


class Format:
    def __init__(self, width: int, height: int, name: str = "") -> None:
        self._width, self._height, self._name = int(width), int(height), name

    def width(self) -> int:
        return self._width

    def height(self) -> int:
        return self._height

    def name(self) -> str:
        return self._name


# --- nodes ---------------------------------------------------------------------------------------------------
_DEFAULT_KNOBS: dict[str, dict[str, Knob]] = {}


def _class_knobs(cls: str) -> list[Knob]:
    """The built-in knobs of the node classes the adapter creates (names from the Nuke reference)."""
    if cls == "Read":
        return [
            File_Knob("file"),
            File_Knob("proxy"),
            Int_Knob("first"),
            Int_Knob("last"),
            Enumeration_Knob("on_error", "missing frames", ["error", "black", "checkerboard", "nearest frame"]),
            Enumeration_Knob("before", "before", ["hold", "loop", "bounce", "black"]),
            Enumeration_Knob("after", "after", ["hold", "loop", "bounce", "black"]),
            Boolean_Knob("raw"),
            Text_Knob("label"),
            _ReloadKnob("reload", "Reload"),
        ]
    if cls == "Write":
        return [
            File_Knob("file"),
            File_Knob("proxy"),
            Enumeration_Knob("file_type", "file type", ["exr", "tiff", "png", "dpx"]),
            Enumeration_Knob("datatype", "datatype", ["16 bit half", "32 bit float"]),
            Enumeration_Knob("channels", "channels", ["rgb", "rgba", "alpha", "all"]),
            Boolean_Knob("create_directories"),
            Boolean_Knob("raw"),
            Boolean_Knob("disable"),
        ]
    if cls == "Input":
        return [Int_Knob("number")]
    if cls == "Root":
        return [
            Int_Knob("first_frame"),
            Int_Knob("last_frame"),
            Boolean_Knob("proxy"),
            Double_Knob("proxy_scale"),
            File_Knob("name"),
        ]
    return []


class Node:
    def __init__(self, cls: str, parent: Group | None) -> None:
        self._class = cls
        self._knobs: dict[str, Knob] = {}
        self._order: list[str] = []
        self._inputs: dict[int, Node] = {}
        self._parent = parent
        self._name = cls
        self._frame_cache: dict[str, tuple[np.ndarray, list[str]]] = {}  # a Read's frames, by path
        self._deleted = False
        for knob in _class_knobs(cls):
            self.addKnob(knob)
        if cls == "Root":
            self._knobs["proxy_scale"]._value = 0.5

    def _alive(self) -> None:
        if self._deleted:
            raise ValueError(_DETACHED)

    def Class(self) -> str:
        self._alive()
        return self._class

    def name(self) -> str:
        self._alive()
        return self._name

    def channels(self) -> list[str]:
        """The channels this node gives, as Nuke names them (read from its image at the script's first frame)."""
        self._alive()
        try:
            names = _image(self, int(_state.root["first_frame"].value()))[1]
        except RenderError:
            return []
        return [_NUKE_CHANNELS.get(name, f"other.{name}") for name in names]

    def fullName(self) -> str:
        self._alive()
        if self._parent is None or self._parent._class == "Root":
            return self._name
        return f"{self._parent.fullName()}.{self._name}"

    def setName(self, name: str) -> None:
        self._alive()
        self._name = name

    def knob(self, name: str) -> Knob | None:
        self._alive()
        return self._knobs.get(name)

    def knobs(self) -> dict[str, Knob]:
        self._alive()
        return dict(self._knobs)

    def __getitem__(self, name: str) -> Knob:
        self._alive()
        knob = self._knobs.get(name)
        if knob is None:
            raise NameError(f"{self._name} has no knob named {name!r}")
        return knob

    def addKnob(self, knob: Knob) -> None:
        knob._node = self
        self._knobs[knob.name()] = knob
        self._order.append(knob.name())

    def panel_tabs(self) -> list[str]:
        """Test hook: the tabs of the node's panel made by user knobs, in order. A knob with a widget before the
        first Tab_Knob makes Nuke add a "User" tab; a tab whose knobs are all INVISIBLE still shows (it was asked
        for), an implicit "User" tab only when some knob in it has a widget."""
        builtin = {k.name() for k in _class_knobs(self._class)}
        tabs: list[str] = []
        for name in self._order:
            if name in builtin:
                continue
            knob = self._knobs[name]
            if isinstance(knob, Tab_Knob):
                tabs.append(knob.label())
            elif not tabs and knob.has_widget():
                tabs.append("User")
        return tabs

    def setInput(self, index: int, node: Node | None) -> bool:
        self._alive()
        if node is None:
            self._inputs.pop(index, None)
        else:
            self._inputs[index] = node
        return True

    def input(self, index: int) -> Node | None:
        self._alive()
        return self._inputs.get(index)

    def inputs(self) -> int:
        return max(self._inputs) + 1 if self._inputs else 0

    def parent(self) -> Group | None:
        return self._parent

    def proxy(self) -> bool:
        return bool(_state.root["proxy"].value())

    def _knob_changed(self, knob: Knob) -> None:
        for callback, node_class in _state.callbacks["knobChanged"]:
            if node_class in ("*", self._class):
                _state.this_node.append(self)
                _state.this_knob.append(knob)
                try:
                    callback()
                finally:
                    _state.this_knob.pop()
                    _state.this_node.pop()


class Group(Node):
    def __init__(self, cls: str, parent: Group | None) -> None:
        super().__init__(cls, parent)
        self._children: list[Node] = []

    def begin(self) -> Group:
        self._alive()
        _state.context.append(self)
        return self

    def end(self) -> None:
        if _state.context and _state.context[-1] is self:
            _state.context.pop()

    def __enter__(self) -> Group:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self.begin()

    def __exit__(self, *exc: object) -> None:
        self.end()

    def nodes(self) -> list[Node]:
        self._alive()
        return list(self._children)

    def node(self, name: str) -> Node | None:
        self._alive()
        head, _, rest = name.partition(".")
        for child in self._children:
            if child.name() == head:
                if rest:
                    return child.node(rest) if isinstance(child, Group) else None
                return child
        return None

    def inputs(self) -> int:
        return max(self._inputs) + 1 if self._inputs else 0


class _NodesFactory:
    """``nuke.nodes.Read(file=...)``: create a node without the panel, knob values as keyword arguments."""

    def __getattr__(self, cls: str) -> Callable[..., Node]:
        def make(**knobs: Any) -> Node:
            node = _create(cls)
            for key, value in knobs.items():
                if key == "name":
                    node.setName(value)
                else:
                    node[key].setValue(value)
            return node

        return make


nodes = _NodesFactory()


def _create(cls: str) -> Node:
    _main_thread_only(f"creating a {cls} node")
    parent = _state.context[-1] if _state.context else _state.root
    node = Group(cls, parent) if cls == "Group" else Node(cls, parent)
    taken = {child.name() for child in parent._children}
    count = 1
    while f"{cls}{count}" in taken:
        count += 1
    node.setName(f"{cls}{count}")
    if cls == "Input":
        node["number"]._value = sum(1 for child in parent._children if child.Class() == "Input")
    parent._children.append(node)
    return node


def createNode(typ: str, knobs: str = "", inpanel: bool = True) -> Node:
    node = _create(typ)
    for callback, node_class in _state.callbacks["onCreate"]:
        if node_class in ("*", typ):
            _state.this_node.append(node)
            try:
                callback()
            finally:
                _state.this_node.pop()
    return node


def delete(node: Node) -> None:
    """Delete ``node`` from the script: onDestroy callbacks run (``thisNode()`` is the node), then every Python
    object of it and of its children is detached (their calls raise ValueError); nodes fed by it lose that input."""
    _main_thread_only("nuke.delete")
    node._alive()
    for callback, node_class in _state.callbacks["onDestroy"]:
        if node_class in ("*", node._class):
            _state.this_node.append(node)
            try:
                callback()
            finally:
                _state.this_node.pop()
    parent = node._parent
    if parent is not None and node in parent._children:
        parent._children.remove(node)
        for other in parent._children:
            for index, upstream in list(other._inputs.items()):
                if upstream is node:
                    del other._inputs[index]

    def detach(gone: Node) -> None:
        gone._deleted = True
        for child in getattr(gone, "_children", []):
            detach(child)

    detach(node)


def toNode(name: str) -> Node | None:
    if name == "root":
        return _state.root
    return _state.root.node(name)


def allNodes(filter: str | None = None, group: Group | None = None) -> list[Node]:
    group = group or (_state.context[-1] if _state.context else _state.root)
    return [n for n in group.nodes() if filter is None or n.Class() == filter]


def root() -> Group:
    return _state.root


def thisNode() -> Node:
    return _state.this_node[-1]


def thisKnob() -> Knob:
    return _state.this_knob[-1]


def message(text: str) -> None:
    _main_thread_only("nuke.message")
    _state.messages.append(str(text))


def executeInMainThread(call: Callable, args: Any = (), kwargs: dict | None = None) -> None:
    """Queue ``call`` for Nuke's main thread and return at once (it runs when the main loop gets to it)."""
    if not isinstance(args, tuple):
        args = (args,)
    _state.main_queue.put((call, args, kwargs or {}, None))


def executeInMainThreadWithResult(call: Callable, args: Any = (), kwargs: dict | None = None) -> Any:
    """Run ``call`` on the main thread and wait for its result (from the main thread itself: at once)."""
    if not isinstance(args, tuple):
        args = (args,)
    if threading.current_thread() is threading.main_thread():
        return call(*args, **(kwargs or {}))
    box: dict[str, Any] = {"done": threading.Event()}
    _state.main_queue.put((call, args, kwargs or {}, box))
    box["done"].wait()
    return box.get("result")


def pluginAddPath(path: str) -> None:
    _state.plugin_paths.append(str(path))


# --- images --------------------------------------------------------------------------------------------------
def _scaled(pixels: np.ndarray) -> np.ndarray:
    """Proxy mode: Nuke scales the tree by the proxy scale; nearest-pixel sampling is enough for a stand-in."""
    if not _state.root["proxy"].value():
        return pixels
    scale = float(_state.root["proxy_scale"].value())
    h, w = pixels.shape[:2]
    ys = (np.arange(max(1, round(h * scale))) / scale).astype(int).clip(0, h - 1)
    xs = (np.arange(max(1, round(w * scale))) / scale).astype(int).clip(0, w - 1)
    return pixels[ys][:, xs]


def _frame_path(pattern: str, frame: int) -> str:
    if "%" in pattern:
        return pattern % frame
    if "#" in pattern:
        hashes = pattern.count("#")
        return pattern.replace("#" * hashes, f"{frame:0{hashes}d}")
    return pattern


def _image(node: Node | None, frame: int) -> tuple[np.ndarray, list[str]]:
    """The pixels (h, w, c) float32 and channel names ``node`` produces at ``frame`` (Nuke works in float)."""
    if node is None:
        raise RenderError("input is not connected")
    if node.Class() == "Read":
        first, last = int(node["first"].value()), int(node["last"].value())
        frame = min(max(frame, first), last)
        pattern = node["proxy"].value() if node.proxy() and node["proxy"].value() else node["file"].value()
        path = _frame_path(pattern, frame)
        if path in node._frame_cache:  # Nuke shows what it cached for this path until the Read is reloaded
            pixels, channels = node._frame_cache[path]
        else:
            buf = oiio.ImageBuf(path)
            if buf.has_error or not os.path.exists(path):
                raise RenderError(f"{node.fullName()}: Read error: {path}: no such file")
            pixels = buf.get_pixels(oiio.FLOAT)
            channels = list(buf.spec().channelnames)
            node._frame_cache[path] = (pixels, channels)
        if node.proxy() and node["proxy"].value():
            return pixels, channels
        return _scaled(pixels), channels
    if node.Class() == "Input":
        group = node.parent()
        return _image(group.input(int(node["number"].value())) if group is not None else None, frame)
    if node.Class() in ("Write", "Output", "Dot"):
        return _image(node.input(0), frame)
    if isinstance(node, Group):
        output = next((c for c in node.nodes() if c.Class() == "Output"), None)
        return _image(output, frame)
    raise RenderError(f"{node.fullName()}: the stand-in cannot render a {node.Class()} node")


_CHANNEL_SETS = {"rgb": ("R", "G", "B"), "rgba": ("R", "G", "B", "A"), "alpha": ("A",)}
_NUKE_CHANNELS = {"R": "rgba.red", "G": "rgba.green", "B": "rgba.blue", "A": "rgba.alpha"}


def _write(node: Node, frame: int) -> str:
    pixels, channels = _image(node.input(0), frame)
    chosen = node["channels"].value()
    if chosen != "all":  # every channel of the set; one the input lacks is black (Nuke's channels default to 0)
        names = list(_CHANNEL_SETS[chosen])
        black = np.zeros(pixels.shape[:2], np.float32)
        pixels = np.stack([pixels[:, :, channels.index(c)] if c in channels else black for c in names], -1)
        channels = names
    pattern = node["proxy"].value() if node.proxy() and node["proxy"].value() else node["file"].value()
    if not pattern:
        raise RenderError(f"{node.fullName()}: no file name set")
    path = _frame_path(pattern, frame)
    if node["create_directories"].value():
        os.makedirs(os.path.dirname(path), exist_ok=True)
    fmt = oiio.HALF if node["datatype"].value() == "16 bit half" else oiio.FLOAT
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], pixels.shape[2], fmt)
    spec.channelnames = tuple(channels)
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(path)
    if out is None or not out.open(path, spec):
        raise RenderError(f"{node.fullName()}: cannot write {path}: {oiio.geterror()}")
    out.write_image(np.ascontiguousarray(pixels, dtype=np.float32))
    out.close()
    return path


def execute(nameOrNode: Node | str, start: int, end: int, incr: int = 1, continueOnError: bool = False) -> None:
    _main_thread_only("nuke.execute")
    node = toNode(nameOrNode) if isinstance(nameOrNode, str) else nameOrNode
    if node is None or node.Class() != "Write":
        raise ValueError(f"{nameOrNode!r} is not a Write node")
    if node["disable"].value():
        raise RuntimeError(f"{node.fullName()}: the node is disabled")
    _state.executed.append((node.fullName(), int(start), int(end)))
    for frame in range(int(start), int(end) + 1, int(incr)):
        try:
            _write(node, frame)
        except RenderError as exc:
            if not continueOnError:
                raise RuntimeError(str(exc)) from None


def _writes(group: Group) -> list[Node]:
    found = []
    for child in group.nodes():
        if child.Class() == "Write":
            found.append(child)
        elif isinstance(child, Group):
            found += _writes(child)
    return found


def _render_script() -> list[str]:
    """``nuke -x script.nk``: execute every enabled Write of the script (Groups included) over its frame range."""
    first, last = int(_state.root["first_frame"].value()), int(_state.root["last_frame"].value())
    done = []
    for write in _writes(_state.root):
        if not write["disable"].value():
            execute(write, first, last)
            done.append(write.fullName())
    return done


def sample_image(node: Node, frame: int) -> tuple[np.ndarray, list[str]]:
    """Test hook (not Nuke API): what a viewer would show for ``node`` at ``frame``; raises RenderError."""
    return _image(node, frame)


# --- progress, menus, callbacks ------------------------------------------------------------------------------
class ProgressTask:
    """The documented progress window; ``isCancelled`` turns true once ``cancel_after_updates`` updates were made
    (a test's stand-in for the user pressing Cancel)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.thread = threading.current_thread().name  # test hook: which thread made it
        self.messages: list[str] = []
        self.values: list[int] = []
        _state.progress_tasks.append(self)

    def setMessage(self, text: str) -> None:
        self.messages.append(str(text))

    def setProgress(self, value: int) -> None:
        self.values.append(int(value))

    def isCancelled(self) -> bool:
        if _state.cancel_if is not None:
            return bool(_state.cancel_if(self))
        limit = _state.cancel_after_updates
        return limit is not None and len(self.values) >= limit


class Menu:
    def __init__(self, name: str) -> None:
        self._name = name
        self.items: dict[str, Any] = {}

    def name(self) -> str:
        return self._name

    def addMenu(self, name: str, icon: str = "") -> Menu:
        existing = self.items.get(name)
        if isinstance(existing, Menu):
            return existing
        menu = Menu(name)
        self.items[name] = menu
        return menu

    def addCommand(self, name: str, command: Any = None, shortcut: str = "", icon: str = "", **kwargs: Any) -> None:
        head, _, rest = name.partition("/")
        if rest:
            self.addMenu(head).addCommand(rest, command, shortcut, icon)
            return
        self.items[name] = {"command": command, "shortcut": shortcut, "icon": icon}

    def findItem(self, name: str) -> Any:
        head, _, rest = name.partition("/")
        item = self.items.get(head)
        if rest:
            return item.findItem(rest) if isinstance(item, Menu) else None
        return item


def menu(name: str) -> Menu:
    return _state.menus.setdefault(name, Menu(name))


def _add_callback(kind: str) -> Callable[..., None]:
    def add(call: Callable, args: tuple = (), kwargs: dict | None = None, nodeClass: str = "*") -> None:
        kwargs = kwargs or {}
        _state.callbacks[kind].append(((lambda: call(*args, **kwargs)), nodeClass))

    return add


addOnCreate = _add_callback("onCreate")
addOnScriptLoad = _add_callback("onScriptLoad")
addOnDestroy = _add_callback("onDestroy")
addKnobChanged = _add_callback("knobChanged")


# --- scripts ---------------------------------------------------------------------------------------------------
def _dump(group: Group) -> list[dict]:
    out = []
    for node in group.nodes():
        knobs = {}
        user = []
        for name in node._order:
            knob = node._knobs[name]
            knobs[name] = knob.value()
            if name not in {k.name() for k in _class_knobs(node.Class())}:
                extra = {"values": knob.values()} if isinstance(knob, Enumeration_Knob) else {}
                user.append({"class": knob.Class(), "name": name, "label": knob.label(), "flags": knob._flags, **extra})
        entry = {
            "class": node.Class(),
            "name": node.name(),
            "knobs": knobs,
            "user_knobs": user,
            "inputs": {str(i): n.name() for i, n in node._inputs.items()},
        }
        if isinstance(node, Group):
            entry["children"] = _dump(node)
        out.append(entry)
    return out


def _load(group: Group, entries: list[dict]) -> None:
    made: dict[str, Node] = {}
    for entry in entries:
        group.begin()
        try:
            node = _create(entry["class"])
        finally:
            group.end()
        node.setName(entry["name"])
        for spec in entry["user_knobs"]:
            cls = globals()[spec["class"]]
            knob = (
                cls(spec["name"], spec["label"], spec["values"])
                if "values" in spec
                else cls(spec["name"], spec["label"])
            )
            knob._flags = spec.get("flags", 0)
            node.addKnob(knob)
        for name, value in entry["knobs"].items():
            node[name]._value = value
        if isinstance(node, Group):
            _load(node, entry.get("children", []))
        made[node.name()] = node
    for entry in entries:
        for index, name in entry["inputs"].items():
            made[entry["name"]].setInput(int(index), made.get(name))


def scriptSave(filename: str | None = None) -> None:
    filename = filename or _state.root["name"].value()
    _state.root["name"]._value = filename
    data = {"root": {n: _state.root[n].value() for n in _state.root._order}, "nodes": _dump(_state.root)}
    with open(filename, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)


def scriptClear() -> None:
    callbacks = _state.callbacks
    menus = _state.menus
    _state.reset()
    _state.callbacks = callbacks
    _state.menus = menus


def scriptOpen(filename: str) -> None:
    scriptClear()
    with open(filename, encoding="utf-8") as handle:
        data = json.load(handle)
    for name, value in data["root"].items():
        _state.root[name]._value = value
    _state.root["name"]._value = filename
    _load(_state.root, data["nodes"])
    for callback, _node_class in _state.callbacks["onScriptLoad"]:
        callback()


# --- session state ---------------------------------------------------------------------------------------------
class _State:
    def __init__(self) -> None:
        self.callbacks: dict[str, list] = {"onCreate": [], "onScriptLoad": [], "knobChanged": [], "onDestroy": []}
        self.menus: dict[str, Menu] = {}
        self.plugin_paths: list[str] = []
        self.reset()

    def reset(self) -> None:
        self.root = Group("Root", None)
        self.root.setName("root")
        self.root["first_frame"]._value = 1
        self.root["last_frame"]._value = 100
        self.context: list[Group] = []
        self.this_node: list[Node] = []
        self.this_knob: list[Knob] = []
        self.executed: list[tuple[str, int, int]] = []
        self.progress_tasks: list[ProgressTask] = []
        self.messages: list[str] = []
        self.cancel_after_updates: int | None = None
        self.cancel_if: Callable[[ProgressTask], bool] | None = None  # the user's Cancel, decided per task
        self.main_queue: queue.Queue = queue.Queue()
        self.thread_violations: list[str] = []
        env["gui"] = True

    def run_main_loop(self, until: Callable[[], bool], timeout_s: float = 300.0) -> bool:
        """Test hook: be Nuke's main loop (run queued ``executeInMainThread`` calls) until ``until()`` holds and
        nothing is queued, or ``timeout_s`` passed (False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                call, args, kwargs, box = self.main_queue.get(timeout=0.05)
            except queue.Empty:
                if until():
                    return True
                continue
            result = None
            try:
                result = call(*args, **kwargs)
            finally:
                if box is not None:
                    box["result"] = result
                    box["done"].set()
        return False

    def panel_edit(self, node: Node, knob: str, value: Any) -> None:
        """Test hook: the artist changes ``knob`` in the node's panel (knobChanged runs, as for every change)."""
        node[knob].setValue(value)

    def render_script(self) -> list[str]:
        """Test hook: ``nuke -x`` on the open script; the Writes it executed."""
        return _render_script()


_state = _State()
standin = _state  # test hook: ``nuke.standin.cancel_after_updates = 2``, ``nuke.standin.messages``


def _module():
    import sys

    return sys.modules[__name__]
