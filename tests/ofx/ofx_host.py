"""A small OpenFX host in Python (ctypes), written from the OpenFX 1.4 specification, to load and drive a plug-in.

Why our own: the Remove Object plug-in must be tested as a host runs it (load the binary, fetch suites, describe,
describe in a context, create an instance, clip preferences, frames needed, regions of interest, render, destroy,
unload) with no commercial host on this machine. It provides the property, image effect, parameter, memory,
multithread, message and progress suites; images come from numpy arrays (the tests read them from real EXR and PNG
files). It is strict where the specification is: an unknown property is an error status, images are released, and
rows go bottom-up as in OpenFX.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

STAT_OK, STAT_FAILED, STAT_ERR_UNKNOWN, STAT_ERR_BAD_HANDLE, STAT_ERR_BAD_INDEX = 0, 1, 3, 9, 10
STAT_REPLY_DEFAULT = 14

DEPTHS = {"OfxBitDepthByte": np.uint8, "OfxBitDepthShort": np.uint16, "OfxBitDepthHalf": np.float16,
          "OfxBitDepthFloat": np.float32}  # fmt: skip
COMPONENTS = {"OfxImageComponentRGBA": 4, "OfxImageComponentRGB": 3, "OfxImageComponentAlpha": 1}
DEPTH_OF = {np.dtype(v): k for k, v in DEPTHS.items()}
COMPONENTS_OF = {v: k for k, v in COMPONENTS.items()}

PARAM_TYPES = frozenset(
    "OfxParamType" + name
    for name in ("Integer", "Double", "Boolean", "Choice", "RGBA", "RGB", "Double2D", "Integer2D", "Double3D",
                 "Integer3D", "String", "Custom", "Bytes", "Group", "Page", "PushButton", "Parametric")
)  # fmt: skip
"""The parameter types of OpenFX 1.4 (ofxParam.h); a Boolean's value and default are ints, 0 off, 1 on."""

P = ctypes.c_void_p
S = ctypes.c_int  # OfxStatus
CHARP = ctypes.c_char_p

# --- suite layouts (member order is the binary contract) ---------------------------------------------------------
PROPERTY_SUITE = [
    ("propSetPointer", S, [P, CHARP, ctypes.c_int, P]),
    ("propSetString", S, [P, CHARP, ctypes.c_int, CHARP]),
    ("propSetDouble", S, [P, CHARP, ctypes.c_int, ctypes.c_double]),
    ("propSetInt", S, [P, CHARP, ctypes.c_int, ctypes.c_int]),
    ("propSetPointerN", S, [P, CHARP, ctypes.c_int, P]),
    ("propSetStringN", S, [P, CHARP, ctypes.c_int, P]),
    ("propSetDoubleN", S, [P, CHARP, ctypes.c_int, P]),
    ("propSetIntN", S, [P, CHARP, ctypes.c_int, P]),
    ("propGetPointer", S, [P, CHARP, ctypes.c_int, P]),
    ("propGetString", S, [P, CHARP, ctypes.c_int, P]),
    ("propGetDouble", S, [P, CHARP, ctypes.c_int, P]),
    ("propGetInt", S, [P, CHARP, ctypes.c_int, P]),
    ("propGetPointerN", S, [P, CHARP, ctypes.c_int, P]),
    ("propGetStringN", S, [P, CHARP, ctypes.c_int, P]),
    ("propGetDoubleN", S, [P, CHARP, ctypes.c_int, P]),
    ("propGetIntN", S, [P, CHARP, ctypes.c_int, P]),
    ("propReset", S, [P, CHARP]),
    ("propGetDimension", S, [P, CHARP, P]),
]
EFFECT_SUITE = [
    ("getPropertySet", S, [P, P]),
    ("getParamSet", S, [P, P]),
    ("clipDefine", S, [P, CHARP, P]),
    ("clipGetHandle", S, [P, CHARP, P, P]),
    ("clipGetPropertySet", S, [P, P]),
    ("clipGetImage", S, [P, ctypes.c_double, P, P]),
    ("clipReleaseImage", S, [P]),
    ("clipGetRegionOfDefinition", S, [P, ctypes.c_double, P]),
    ("abort", ctypes.c_int, [P]),
    ("imageMemoryAlloc", S, [P, ctypes.c_size_t, P]),
    ("imageMemoryFree", S, [P]),
    ("imageMemoryLock", S, [P, P]),
    ("imageMemoryUnlock", S, [P]),
]
# Variadic getters: on x86-64 the one pointer after the fixed arguments arrives where a fixed one would.
PARAMETER_SUITE = [
    ("paramDefine", S, [P, CHARP, CHARP, P]),
    ("paramGetHandle", S, [P, CHARP, P, P]),
    ("paramSetGetPropertySet", S, [P, P]),
    ("paramGetPropertySet", S, [P, P]),
    ("paramGetValue", S, [P, P]),
    ("paramGetValueAtTime", S, [P, ctypes.c_double, P]),
    ("paramGetDerivative", S, [P, ctypes.c_double, P]),
    ("paramGetIntegral", S, [P, ctypes.c_double, ctypes.c_double, P]),
    ("paramSetValue", S, [P, P]),
    ("paramSetValueAtTime", S, [P, ctypes.c_double, P]),
    ("paramGetNumKeys", S, [P, P]),
    ("paramGetKeyTime", S, [P, ctypes.c_uint, P]),
    ("paramGetKeyIndex", S, [P, ctypes.c_double, ctypes.c_int, P]),
    ("paramDeleteKey", S, [P, ctypes.c_double]),
    ("paramDeleteAllKeys", S, [P]),
    ("paramCopy", S, [P, P, ctypes.c_double, P]),
    ("paramEditBegin", S, [P, CHARP]),
    ("paramEditEnd", S, [P]),
]
MEMORY_SUITE = [("memoryAlloc", S, [P, ctypes.c_size_t, P]), ("memoryFree", S, [P])]
THREAD_SUITE = [
    ("multiThread", S, [P, ctypes.c_uint, P]),
    ("multiThreadNumCPUs", S, [P]),
    ("multiThreadIndex", S, [P]),
    ("multiThreadIsSpawnedThread", ctypes.c_int, []),
    ("mutexCreate", S, [P, ctypes.c_int]),
    ("mutexDestroy", S, [P]),
    ("mutexLock", S, [P]),
    ("mutexUnLock", S, [P]),
    ("mutexTryLock", S, [P]),
]
MESSAGE_SUITE = [("message", S, [P, CHARP, CHARP, CHARP, CHARP])]  # format "%s" + its one argument
PROGRESS_SUITE = [
    ("progressStart", S, [P, CHARP]),
    ("progressUpdate", S, [P, ctypes.c_double]),
    ("progressEnd", S, [P]),
]

FETCH_SUITE = ctypes.CFUNCTYPE(P, P, CHARP, ctypes.c_int)
ENTRY = ctypes.CFUNCTYPE(S, CHARP, P, P, P)
SET_HOST = ctypes.CFUNCTYPE(None, P)


class OfxHostStruct(ctypes.Structure):
    _fields_ = [("host", P), ("fetchSuite", FETCH_SUITE)]


class OfxPluginStruct(ctypes.Structure):
    _fields_ = [
        ("pluginApi", CHARP),
        ("apiVersion", ctypes.c_int),
        ("pluginIdentifier", CHARP),
        ("pluginVersionMajor", ctypes.c_uint),
        ("pluginVersionMinor", ctypes.c_uint),
        ("setHost", SET_HOST),
        ("mainEntry", ENTRY),
    ]


def _suite(layout: list, implementation: Any) -> tuple[ctypes.Structure, list]:
    """A suite struct whose members call ``implementation``'s methods of the same names."""
    types = [(name, ctypes.CFUNCTYPE(restype, *argtypes)) for name, restype, argtypes in layout]
    struct_type = type("Suite", (ctypes.Structure,), {"_fields_": types})
    callbacks = [kind(_guard(getattr(implementation, name), name)) for name, kind in types]
    return struct_type(*callbacks), callbacks


def _guard(function: Callable, name: str) -> Callable:
    def call(*args):
        try:
            return function(*args)
        except Exception as exc:  # noqa: BLE001 - an exception must not cross into C; the test sees it in errors
            HOST_ERRORS.append(f"{name}: {type(exc).__name__}: {exc}")
            return STAT_FAILED

    return call


HOST_ERRORS: list[str] = []


class Handles:
    """Opaque handles: a unique address per object, and the object back from it."""

    def __init__(self) -> None:
        self._objects: dict[int, Any] = {}
        self._anchors: dict[int, Any] = {}
        self._lock = threading.Lock()

    def new(self, obj: Any) -> int:
        anchor = ctypes.create_string_buffer(1)
        address = ctypes.addressof(anchor)
        with self._lock:
            self._objects[address] = obj
            self._anchors[address] = anchor
        obj.handle = address
        return address

    def get(self, address: int | None) -> Any:
        return self._objects.get(address or 0)

    def drop(self, address: int) -> None:
        with self._lock:
            self._objects.pop(address, None)
            self._anchors.pop(address, None)


HANDLES = Handles()


class PropertySet:
    """Named properties, each a typed list of values; ``strict`` sets refuse names they were not given."""

    def __init__(self, values: dict[str, list] | None = None, strict: bool = False) -> None:
        self.values: dict[str, list] = {k: list(v) for k, v in (values or {}).items()}
        self.strict = strict
        self._strings: dict[tuple[str, int], ctypes.Array] = {}
        self.handle = 0
        HANDLES.new(self)

    def set(self, name: str, index: int, value: Any) -> int:
        if self.strict and name not in self.values:
            return STAT_ERR_UNKNOWN
        current = self.values.setdefault(name, [])
        if index < 0:
            return STAT_ERR_BAD_INDEX
        while len(current) <= index:
            current.append(None)
        current[index] = value
        return STAT_OK

    def get(self, name: str, index: int) -> Any:
        values = self.values.get(name)
        if values is None:
            raise KeyError(name)
        if not 0 <= index < len(values):
            raise IndexError(name)
        return values[index]

    def c_string(self, name: str, index: int) -> int:
        value = self.get(name, index)
        buffer = ctypes.create_string_buffer(str(value or "").encode())
        self._strings[name, index] = buffer
        return ctypes.addressof(buffer)


def _out(pointer: int, ctype, value) -> None:
    ctypes.cast(pointer, ctypes.POINTER(ctype))[0] = value


class PropertySuite:
    def _set(self, handle, name, index, value):
        props = HANDLES.get(handle)
        if not isinstance(props, PropertySet):
            return STAT_ERR_BAD_HANDLE
        return props.set(name.decode(), index, value)

    def propSetPointer(self, h, name, i, v):
        return self._set(h, name, i, v or 0)

    def propSetString(self, h, name, i, v):
        return self._set(h, name, i, (v or b"").decode())

    def propSetDouble(self, h, name, i, v):
        return self._set(h, name, i, float(v))

    def propSetInt(self, h, name, i, v):
        return self._set(h, name, i, int(v))

    def _set_n(self, h, name, n, pointer, ctype, convert):
        array = ctypes.cast(pointer, ctypes.POINTER(ctype))
        for i in range(n):
            status = self._set(h, name, i, convert(array[i]))
            if status != STAT_OK:
                return status
        props = HANDLES.get(h)
        del props.values[name.decode()][n:]
        return STAT_OK

    def propSetPointerN(self, h, name, n, p):
        return self._set_n(h, name, n, p, P, lambda v: v or 0)

    def propSetStringN(self, h, name, n, p):
        return self._set_n(h, name, n, p, CHARP, lambda v: (v or b"").decode())

    def propSetDoubleN(self, h, name, n, p):
        return self._set_n(h, name, n, p, ctypes.c_double, float)

    def propSetIntN(self, h, name, n, p):
        return self._set_n(h, name, n, p, ctypes.c_int, int)

    def _get(self, handle, name, index, out, ctype, convert):
        props = HANDLES.get(handle)
        if not isinstance(props, PropertySet):
            return STAT_ERR_BAD_HANDLE
        try:
            value = props.get(name.decode(), index)
        except KeyError:
            return STAT_ERR_UNKNOWN
        except IndexError:
            return STAT_ERR_BAD_INDEX
        _out(out, ctype, convert(props, name.decode(), index, value))
        return STAT_OK

    def propGetPointer(self, h, name, i, out):
        return self._get(h, name, i, out, P, lambda p, n, i, v: v or None)

    def propGetString(self, h, name, i, out):
        return self._get(h, name, i, out, P, lambda p, n, i, v: p.c_string(n, i))

    def propGetDouble(self, h, name, i, out):
        return self._get(h, name, i, out, ctypes.c_double, lambda p, n, i, v: float(v))

    def propGetInt(self, h, name, i, out):
        return self._get(h, name, i, out, ctypes.c_int, lambda p, n, i, v: int(v))

    def _get_n(self, getter, h, name, n, out, size):
        for i in range(n):
            status = getter(h, name, i, out + i * size)
            if status != STAT_OK:
                return status
        return STAT_OK

    def propGetPointerN(self, h, name, n, out):
        return self._get_n(self.propGetPointer, h, name, n, out, ctypes.sizeof(P))

    def propGetStringN(self, h, name, n, out):
        return self._get_n(self.propGetString, h, name, n, out, ctypes.sizeof(P))

    def propGetDoubleN(self, h, name, n, out):
        return self._get_n(self.propGetDouble, h, name, n, out, 8)

    def propGetIntN(self, h, name, n, out):
        return self._get_n(self.propGetInt, h, name, n, out, 4)

    def propReset(self, h, name):
        return STAT_OK

    def propGetDimension(self, h, name, out):
        props = HANDLES.get(h)
        if not isinstance(props, PropertySet) or name.decode() not in props.values:
            return STAT_ERR_UNKNOWN
        _out(out, ctypes.c_int, len(props.values[name.decode()]))
        return STAT_OK


# --- clips, images, parameters, instances -----------------------------------------------------------------------
FrameSource = Callable[[int], np.ndarray]  # frame -> (h, w, c) top row first, dtype one of DEPTHS


@dataclass
class Clip:
    name: str
    props: PropertySet
    frames: FrameSource | None = None
    frame_range: tuple[int, int] = (0, 0)
    handle: int = 0
    images_out: int = 0  # images handed out and not released yet
    fetched: list[int] = field(default_factory=list)


@dataclass
class Param:
    name: str
    kind: str
    props: PropertySet
    value: Any = None
    handle: int = 0


@dataclass
class Effect:
    props: PropertySet
    params: dict[str, Param] = field(default_factory=dict)
    param_set_props: PropertySet = field(default_factory=PropertySet)
    clips: dict[str, Clip] = field(default_factory=dict)
    abort: threading.Event = field(default_factory=threading.Event)
    output: dict[int, np.ndarray] = field(default_factory=dict)  # time -> output image being rendered
    handle: int = 0
    param_set: Any = None


class ParamSetHandle:
    def __init__(self, effect: Effect) -> None:
        self.effect = effect
        self.handle = 0
        HANDLES.new(self)


class Image:
    """An image handed to the plug-in: bottom-up rows, as OpenFX lays them out."""

    def __init__(self, pixels: np.ndarray, bounds: tuple[int, int, int, int], clip: Clip | None) -> None:
        self.memory = np.ascontiguousarray(pixels[::-1])  # top-down -> bottom-up
        depth = DEPTH_OF[self.memory.dtype]
        components = COMPONENTS_OF[self.memory.shape[2]]
        self.clip = clip
        self.props = PropertySet(
            {
                "OfxPropType": ["OfxTypeImage"],
                "OfxImagePropData": [self.memory.ctypes.data],
                "OfxImagePropBounds": list(bounds),
                "OfxImagePropRegionOfDefinition": list(bounds),
                "OfxImagePropRowBytes": [self.memory.strides[0]],
                "OfxImageEffectPropPixelDepth": [depth],
                "OfxImageEffectPropComponents": [components],
                "OfxImageEffectPropPreMultiplication": ["OfxImageOpaque"],
                "OfxImageEffectPropRenderScale": [1.0, 1.0],
                "OfxImagePropPixelAspectRatio": [1.0],
                "OfxImagePropField": ["OfxFieldNone"],
                "OfxImagePropUniqueIdentifier": [str(id(self))],
            },
            strict=True,
        )

    def release(self) -> None:
        """Input images need nothing back."""


class Host:
    """Loads one plug-in binary and drives it; ``messages`` and ``progress`` record what the plug-in reported."""

    def __init__(self, binary: Path | str) -> None:
        self.library = ctypes.CDLL(str(binary), mode=ctypes.RTLD_LOCAL)
        self.library.OfxGetNumberOfPlugins.restype = ctypes.c_int
        self.library.OfxGetPlugin.restype = ctypes.POINTER(OfxPluginStruct)
        self.library.OfxGetPlugin.argtypes = [ctypes.c_int]
        self.messages: list[tuple[str, str]] = []
        self.progress: list[tuple[str, float]] = []
        self.on_progress: Callable[[Effect, float], None] | None = None
        self.images: dict[int, Image] = {}
        self._lock = threading.Lock()
        self._keep: list[Any] = []
        self.host_props = PropertySet(
            {
                "OfxPropType": ["OfxTypeImageEffectHost"],
                "OfxPropName": ["org.e2fgvi.test-host"],
                "OfxPropLabel": ["e2fgvi test host"],
                "OfxImageEffectHostPropIsBackground": [0],
                "OfxImageEffectPropSupportsTiles": [1],
                "OfxImageEffectPropTemporalClipAccess": [1],
                "OfxImageEffectPropSupportedContexts": ["OfxImageEffectContextGeneral", "OfxImageEffectContextFilter"],
                "OfxImageEffectPropSupportedPixelDepths": list(DEPTHS),
                "OfxImageEffectPropSupportedComponents": list(COMPONENTS),
                "OfxImageEffectPropSupportsMultipleClipDepths": [1],
                "OfxImageEffectPropSupportsMultiResolution": [0],
            }
        )
        self.suites: dict[str, Any] = {}
        for name, layout, implementation in (
            ("OfxPropertySuite", PROPERTY_SUITE, PropertySuite()),
            ("OfxImageEffectSuite", EFFECT_SUITE, self),
            ("OfxParameterSuite", PARAMETER_SUITE, self),
            ("OfxMemorySuite", MEMORY_SUITE, self),
            ("OfxMultiThreadSuite", THREAD_SUITE, self),
            ("OfxMessageSuite", MESSAGE_SUITE, self),
            ("OfxProgressSuite", PROGRESS_SUITE, self),
        ):
            struct, callbacks = _suite(layout, implementation)
            self.suites[name] = struct
            self._keep.append(callbacks)
        self._fetch = FETCH_SUITE(self._fetch_suite)
        self.host_struct = OfxHostStruct(self.host_props.handle, self._fetch)
        self.plugin = self.library.OfxGetPlugin(0).contents
        self.allocations: dict[int, Any] = {}
        self.mutexes: dict[int, threading.RLock] = {}

    # --- the plug-in's entry -----------------------------------------------------------------------------------
    def _fetch_suite(self, host, name, version):
        suite = self.suites.get(name.decode())
        return ctypes.addressof(suite) if suite is not None and version == 1 else None

    def call(self, action: str, handle: int | None, in_args: PropertySet | None = None,
             out_args: PropertySet | None = None) -> int:  # fmt: skip
        return self.plugin.mainEntry(
            action.encode(), handle, in_args.handle if in_args else None, out_args.handle if out_args else None
        )

    def load(self) -> Effect:
        """setHost, load and describe; returns the descriptor."""
        self.plugin.setHost(ctypes.addressof(self.host_struct))
        assert self.call("OfxActionLoad", None) == STAT_OK
        descriptor = self._new_effect({"OfxPropType": ["OfxTypeImageEffect"]})
        status = self.call("OfxActionDescribe", descriptor.handle)
        assert status == STAT_OK, status
        return descriptor

    def _new_effect(self, props: dict[str, list]) -> Effect:
        effect = Effect(PropertySet(props))
        HANDLES.new(effect)
        effect.param_set = ParamSetHandle(effect)
        return effect

    def describe_in_context(self, context: str) -> Effect:
        descriptor = self._new_effect({"OfxPropType": ["OfxTypeImageEffect"], "OfxImageEffectPropContext": [context]})
        in_args = PropertySet({"OfxImageEffectPropContext": [context]})
        assert self.call("OfxImageEffectActionDescribeInContext", descriptor.handle, in_args) == STAT_OK
        return descriptor

    def create_instance(self, context: str, inputs: dict[str, tuple[FrameSource | None, tuple[int, int]]]) -> Effect:
        """An instance of the descriptor of ``context`` whose clips read ``inputs`` (name -> (frames, range))."""
        descriptor = self.describe_in_context(context)
        effect = self._new_effect(
            {
                "OfxPropType": ["OfxTypeImageEffectInstance"],
                "OfxImageEffectPropContext": [context],
                "OfxPropInstanceData": [0],
                "OfxImageEffectPropProjectSize": [0.0, 0.0],
                "OfxImageEffectInstancePropSequentialRender": [0],
            }
        )
        for name, spec in descriptor.params.items():
            effect.params[name] = Param(name, spec.kind, spec.props, spec.value)
            HANDLES.new(effect.params[name])
        for name, clip in descriptor.clips.items():
            frames, frame_range = inputs.get(name, (None, (0, 0)))
            props = PropertySet(dict(clip.props.values))
            effect.clips[name] = Clip(name, props, frames, frame_range)
            HANDLES.new(effect.clips[name])
        self._update_clip_props(effect)
        assert self.call("OfxActionCreateInstance", effect.handle) == STAT_OK
        self.clip_preferences(effect)
        return effect

    def _update_clip_props(self, effect: Effect) -> None:
        for clip in effect.clips.values():
            connected = clip.frames is not None or clip.name == "Output"
            depth, components = "OfxBitDepthNone", "OfxImageComponentNone"
            source = clip if clip.frames is not None else effect.clips.get("Source")
            if source is not None and source.frames is not None:
                sample = source.frames(source.frame_range[0])
                depth, components = DEPTH_OF[sample.dtype], COMPONENTS_OF[sample.shape[2]]
            frame_range = effect.clips["Source"].frame_range if clip.name == "Output" else clip.frame_range
            clip.props.values.update(
                {
                    "OfxPropType": ["OfxTypeClip"],
                    "OfxPropName": [clip.name],
                    "OfxImageClipPropConnected": [int(connected)],
                    "OfxImageEffectPropPixelDepth": [depth],
                    "OfxImageEffectPropComponents": [components],
                    "OfxImageClipPropUnmappedPixelDepth": [depth],
                    "OfxImageClipPropUnmappedComponents": [components],
                    "OfxImageEffectPropPreMultiplication": ["OfxImageOpaque"],
                    "OfxImageEffectPropFrameRange": [float(frame_range[0]), float(frame_range[1])],
                    "OfxImageEffectPropFrameRate": [24.0],
                    "OfxImagePropPixelAspectRatio": [1.0],
                    "OfxImageClipPropFieldOrder": ["OfxFieldNone"],
                }
            )

    def clip_preferences(self, effect: Effect) -> PropertySet:
        out = PropertySet()
        status = self.call("OfxImageEffectActionGetClipPreferences", effect.handle, None, out)
        assert status in (STAT_OK, STAT_REPLY_DEFAULT), status
        for key, prop in (("OfxImageClipPropDepth_Output", "OfxImageEffectPropPixelDepth"),
                          ("OfxImageClipPropComponents_Output", "OfxImageEffectPropComponents")):  # fmt: skip
            if key in out.values:
                effect.clips["Output"].props.values[prop] = list(out.values[key])
        return out

    def frames_needed(self, effect: Effect, time: int) -> tuple[int, PropertySet]:
        out = PropertySet()
        status = self.call(
            "OfxImageEffectActionGetFramesNeeded", effect.handle, PropertySet({"OfxPropTime": [float(time)]}), out
        )
        return status, out

    def regions_of_interest(
        self, effect: Effect, time: int, window: tuple[int, int, int, int]
    ) -> tuple[int, PropertySet]:
        out = PropertySet()
        in_args = PropertySet({"OfxPropTime": [float(time)], "OfxImageEffectPropRegionOfInterest": [float(v) for v in window],
                               "OfxImageEffectPropRenderScale": [1.0, 1.0]})  # fmt: skip
        return self.call("OfxImageEffectActionGetRegionsOfInterest", effect.handle, in_args, out), out

    def render(
        self, effect: Effect, time: int, window: tuple[int, int, int, int] | None = None
    ) -> tuple[int, np.ndarray]:
        """Render ``time`` into a fresh output image (NaN-filled where the window leaves it); (status, top-down)."""
        source = effect.clips["Source"]
        sample = source.frames(int(time))
        h, w = sample.shape[:2]
        out_props = effect.clips["Output"].props.values
        dtype = DEPTHS[out_props["OfxImageEffectPropPixelDepth"][0]]
        channels = COMPONENTS[out_props["OfxImageEffectPropComponents"][0]]
        fill = np.nan if np.dtype(dtype).kind == "f" else 0
        output = np.full((h, w, channels), fill, dtype)
        window = window or (0, 0, w, h)
        with self._lock:
            effect.output[int(time)] = output
        in_args = PropertySet(
            {
                "OfxPropTime": [float(time)],
                "OfxImageEffectPropFieldToRender": ["OfxFieldNone"],
                "OfxImageEffectPropRenderWindow": list(window),
                "OfxImageEffectPropRenderScale": [1.0, 1.0],
                "OfxImageEffectPropSequentialRenderStatus": [0],
                "OfxImageEffectPropInteractiveRenderStatus": [0],
                "OfxImageEffectPropRenderQualityDraft": [0],
            }
        )
        status = self.call("OfxImageEffectActionRender", effect.handle, in_args)
        with self._lock:
            result = effect.output.pop(int(time))
        return status, result

    def press(self, effect: Effect, name: str, time: int) -> int:
        in_args = PropertySet({"OfxPropType": ["OfxTypeParameter"], "OfxPropName": [name],
                               "OfxPropChangeReason": ["OfxChangeUserEdited"], "OfxPropTime": [float(time)],
                               "OfxImageEffectPropRenderScale": [1.0, 1.0]})  # fmt: skip
        return self.call("OfxActionInstanceChanged", effect.handle, in_args)

    def destroy(self, effect: Effect) -> int:
        return self.call("OfxActionDestroyInstance", effect.handle)

    def unload(self) -> int:
        return self.call("OfxActionUnload", None)

    def set_param(self, effect: Effect, name: str, value: Any) -> None:
        effect.params[name].value = value

    # --- image effect suite ------------------------------------------------------------------------------------
    def getPropertySet(self, effect, out):
        found = HANDLES.get(effect)
        if not isinstance(found, Effect):
            return STAT_ERR_BAD_HANDLE
        _out(out, P, found.props.handle)
        return STAT_OK

    def getParamSet(self, effect, out):
        found = HANDLES.get(effect)
        if not isinstance(found, Effect):
            return STAT_ERR_BAD_HANDLE
        _out(out, P, found.param_set.handle)
        return STAT_OK

    def clipDefine(self, effect, name, out):
        found = HANDLES.get(effect)
        clip = Clip(name.decode(), PropertySet({"OfxPropName": [name.decode()]}))
        HANDLES.new(clip)
        found.clips[clip.name] = clip
        _out(out, P, clip.props.handle)
        return STAT_OK

    def clipGetHandle(self, effect, name, out_clip, out_props):
        found = HANDLES.get(effect)
        clip = found.clips.get(name.decode()) if isinstance(found, Effect) else None
        if clip is None:
            return STAT_ERR_UNKNOWN
        _out(out_clip, P, clip.handle)
        if out_props:
            _out(out_props, P, clip.props.handle)
        return STAT_OK

    def clipGetPropertySet(self, clip, out):
        found = HANDLES.get(clip)
        if not isinstance(found, Clip):
            return STAT_ERR_BAD_HANDLE
        _out(out, P, found.props.handle)
        return STAT_OK

    def clipGetImage(self, clip, time, region, out):
        found = HANDLES.get(clip)
        if not isinstance(found, Clip):
            return STAT_ERR_BAD_HANDLE
        frame = round(time)
        if found.name == "Output":
            effect = next(e for e in HANDLES._objects.values() if isinstance(e, Effect) and found in e.clips.values())
            with self._lock:
                pixels = effect.output.get(frame)
            if pixels is None:
                return STAT_FAILED
            image = _OutputImage(pixels, found)
        else:
            if found.frames is None or not found.frame_range[0] <= frame <= found.frame_range[1]:
                return STAT_FAILED
            pixels = found.frames(frame)
            image = Image(pixels, (0, 0, pixels.shape[1], pixels.shape[0]), found)
            found.fetched.append(frame)
        with self._lock:
            self.images[image.props.handle] = image
            found.images_out += 1
        _out(out, P, image.props.handle)
        return STAT_OK

    def clipReleaseImage(self, image):
        with self._lock:
            found = self.images.pop(image, None)
            if found is None:
                return STAT_ERR_BAD_HANDLE
            found.clip.images_out -= 1
        found.release()
        HANDLES.drop(image)
        return STAT_OK

    def clipGetRegionOfDefinition(self, clip, time, out):
        found = HANDLES.get(clip)
        if not isinstance(found, Clip):
            return STAT_ERR_BAD_HANDLE
        source = found if found.frames is not None else None
        if source is None:
            return STAT_FAILED
        h, w = source.frames(round(time)).shape[:2]
        rect = ctypes.cast(out, ctypes.POINTER(ctypes.c_double * 4))[0]
        rect[0], rect[1], rect[2], rect[3] = 0.0, 0.0, float(w), float(h)
        return STAT_OK

    def abort(self, effect):
        found = HANDLES.get(effect)
        return int(isinstance(found, Effect) and found.abort.is_set())

    def imageMemoryAlloc(self, effect, size, out):
        return self.memoryAlloc(effect, size, out)

    def imageMemoryFree(self, handle):
        return self.memoryFree(handle)

    def imageMemoryLock(self, handle, out):
        _out(out, P, handle)
        return STAT_OK

    def imageMemoryUnlock(self, handle):
        return STAT_OK

    # --- parameter suite ----------------------------------------------------------------------------------------
    def paramDefine(self, param_set, kind, name, out):
        owner = HANDLES.get(param_set)
        if not isinstance(owner, ParamSetHandle):
            return STAT_ERR_BAD_HANDLE
        if name.decode() in owner.effect.params:
            return 6  # kOfxStatErrExists
        if kind.decode() not in PARAM_TYPES:
            return STAT_ERR_UNKNOWN  # ofxParam.h: "kOfxStatErrUnknown if the type is unknown"
        props = PropertySet({"OfxParamPropType": [kind.decode()], "OfxPropName": [name.decode()]})
        param = Param(name.decode(), kind.decode(), props)
        HANDLES.new(param)
        owner.effect.params[param.name] = param
        _out(out, P, props.handle)
        return STAT_OK

    def paramGetHandle(self, param_set, name, out, out_props):
        owner = HANDLES.get(param_set)
        param = owner.effect.params.get(name.decode()) if isinstance(owner, ParamSetHandle) else None
        if param is None:
            return STAT_ERR_UNKNOWN
        _out(out, P, param.handle)
        if out_props:
            _out(out_props, P, param.props.handle)
        return STAT_OK

    def paramSetGetPropertySet(self, param_set, out):
        owner = HANDLES.get(param_set)
        _out(out, P, owner.effect.param_set_props.handle)
        return STAT_OK

    def paramGetPropertySet(self, param, out):
        _out(out, P, HANDLES.get(param).props.handle)
        return STAT_OK

    def paramGetValue(self, param, out):
        return self.paramGetValueAtTime(param, 0.0, out)

    def paramGetValueAtTime(self, param, time, out):
        found = HANDLES.get(param)
        if not isinstance(found, Param):
            return STAT_ERR_BAD_HANDLE
        value = found.value
        if value is None:
            value = found.props.values.get("OfxParamPropDefault", [None])[0]
        kind = found.kind
        if kind == "OfxParamTypeString":
            buffer = ctypes.create_string_buffer(str(value or "").encode())
            found.props._strings["value", 0] = buffer
            _out(out, P, ctypes.addressof(buffer))
        elif kind == "OfxParamTypeDouble":
            _out(out, ctypes.c_double, float(value or 0.0))
        elif kind == "OfxParamTypeChoice" and isinstance(value, str):
            _out(out, ctypes.c_int, found.props.values["OfxParamPropChoiceOption"].index(value))
        else:
            _out(out, ctypes.c_int, int(value or 0))
        return STAT_OK

    def _unsupported(self, *args):
        return 5  # kOfxStatErrUnsupported

    paramGetDerivative = paramGetIntegral = paramSetValue = paramSetValueAtTime = _unsupported
    paramGetNumKeys = paramGetKeyTime = paramGetKeyIndex = paramDeleteKey = _unsupported
    paramDeleteAllKeys = paramCopy = _unsupported

    def paramEditBegin(self, param_set, name):
        return STAT_OK

    def paramEditEnd(self, param_set):
        return STAT_OK

    # --- memory, threads, messages, progress ------------------------------------------------------------------
    def memoryAlloc(self, handle, size, out):
        buffer = ctypes.create_string_buffer(int(size))
        self.allocations[ctypes.addressof(buffer)] = buffer
        _out(out, P, ctypes.addressof(buffer))
        return STAT_OK

    def memoryFree(self, pointer):
        return STAT_OK if self.allocations.pop(pointer or 0, None) is not None else STAT_ERR_BAD_HANDLE

    def multiThread(self, function, count, argument):
        call = ctypes.CFUNCTYPE(None, ctypes.c_uint, ctypes.c_uint, P)(function)
        for index in range(count):
            call(index, count, argument)
        return STAT_OK

    def multiThreadNumCPUs(self, out):
        _out(out, ctypes.c_uint, 1)
        return STAT_OK

    def multiThreadIndex(self, out):
        _out(out, ctypes.c_uint, 0)
        return STAT_OK

    def multiThreadIsSpawnedThread(self):
        return 0

    def mutexCreate(self, out, count):
        lock = threading.RLock()
        anchor = ctypes.create_string_buffer(1)
        self.mutexes[ctypes.addressof(anchor)] = (lock, anchor)
        _out(out, P, ctypes.addressof(anchor))
        return STAT_OK

    def mutexDestroy(self, handle):
        return STAT_OK if self.mutexes.pop(handle, None) else STAT_ERR_BAD_HANDLE

    def mutexLock(self, handle):
        self.mutexes[handle][0].acquire()
        return STAT_OK

    def mutexUnLock(self, handle):
        self.mutexes[handle][0].release()
        return STAT_OK

    def mutexTryLock(self, handle):
        return STAT_OK if self.mutexes[handle][0].acquire(blocking=False) else STAT_FAILED

    def message(self, handle, kind, message_id, fmt, argument):
        text = (argument or b"").decode(errors="replace") if fmt == b"%s" else (fmt or b"").decode()
        with self._lock:
            self.messages.append(((kind or b"").decode(), text))
        return STAT_OK

    def progressStart(self, effect, label):
        self.progress.append(("start", 0.0))
        return STAT_OK

    def progressUpdate(self, effect, value):
        self.progress.append(("update", float(value)))
        found = HANDLES.get(effect)
        if self.on_progress is not None and isinstance(found, Effect):
            self.on_progress(found, float(value))
        return STAT_OK

    def progressEnd(self, effect):
        self.progress.append(("end", 1.0))
        return STAT_OK


class _OutputImage(Image):
    """The output image: the plug-in writes into the host's own array (bottom-up view of it)."""

    def __init__(self, pixels: np.ndarray, clip: Clip) -> None:
        self.target = pixels
        super().__init__(pixels, (0, 0, pixels.shape[1], pixels.shape[0]), clip)

    def release(self) -> None:
        self.target[...] = self.memory[::-1]
