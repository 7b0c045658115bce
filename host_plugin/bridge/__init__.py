"""The host bridge: the Remove Object effect every host adapter drives (OpenFX-style, in Python, torch-free).

Imports nothing of ours but the client and the protocol module, so it loads in any host's Python.
See docs/hosts.md ("What the bridge guarantees") and ``effect.py`` for the actions.
"""

from .clips import ArrayClip, FrameFiles, PathClip
from .effect import ProgressReport, RemoveObjectEffect, describe, format_frames, parse_shot
from .errors import BridgeCancelled, BridgeError, ParamsError, artist_message
from .frame_cache import FrameCache, FrameCacheStats
from .params import BridgeParams, describe_params, request_keys
from .references import REFERENCE_FRAMES, parse_reference_frames

__all__ = [
    "REFERENCE_FRAMES",
    "ArrayClip",
    "BridgeCancelled",
    "BridgeError",
    "BridgeParams",
    "FrameCache",
    "FrameCacheStats",
    "FrameFiles",
    "ParamsError",
    "PathClip",
    "ProgressReport",
    "RemoveObjectEffect",
    "artist_message",
    "describe",
    "describe_params",
    "format_frames",
    "parse_reference_frames",
    "parse_shot",
    "request_keys",
]
