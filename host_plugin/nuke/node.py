"""The *Remove Object* node for Nuke: its knobs, its *Process* button and its callbacks, without one Nuke call.

How it works: the node is a Group with ``Source``, ``Matte`` and ``Reference`` inputs. *Process* renders the inputs
to EXR over the node's frame range, the Reference input only at its *Reference frames* (clean frames the artist
painted; internal Write nodes run with ``nuke.execute``, so Nuke's format and proxy mode apply), then
returns: the range goes to ``e2fgvi-server`` by path through the host bridge (one job; results equal one whole-shot
run) on a worker thread that shows a ``ProgressTask`` with Cancel, so Nuke stays responsive while the server works;
when the job ends, the main thread (``nuke.executeInMainThread``) points the internal Read at the results and
reloads it. A frame that has no result yet shows the Read's error, never black. Knob values live in the script, and
so do the Read's paths and the node's results folder (kept in a hidden knob at the first Process, so renaming the
node keeps its results), so reopening the script shows the results again (the script-load callback re-counts them
into the status line). *Submit to farm* renders the inputs the same way and writes a farm job bundle by running
``e2fgvi farm bundle`` (``launcher.run_cli``). A node deleted while its job runs has the job cancelled (the destroy
callback) and its result dropped: nothing touches the deleted node.

Every Nuke call is in ``adapter.py``; every server call in the bridge. The bridge parameters' knobs are made from
``describe()`` (names, defaults, ranges, labels, tooltips), so a new parameter appears here without an edit.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from e2fgvi_core.farm.config import DEFAULT_CHUNK_SIZE
from e2fgvi_core.schema import field_for

from .. import launcher
from ..bridge import (
    REFERENCE_FRAMES,
    BridgeCancelled,
    BridgeError,
    BridgeParams,
    ParamsError,
    PathClip,
    RemoveObjectEffect,
    describe,
    format_frames,
    parse_reference_frames,
)
from ..bridge.references import check_reference_frames
from ..client import wire
from . import adapter

ROLE = "E2fgviRemoveObject"
MENU_PATH = "E2FGVI/Remove Object"
SHORTCUT = "shift+alt+r"
MATTE_FROM = ("Matte input", "Source alpha", "Source channel")
# Bridge parameters with a knob of their own in Nuke: the shot comes from the frame range knobs, and the chunk size
# matters only for frame-by-frame rendering, which this node does not do (Process runs the whole range).
_NOT_KNOBS = ("shot", "chunk_size", "matte_channel")
_KIND_OF_TYPE = {"int": "int", "float": "float", "str": "string", "bool": "bool"}  # describe()'s type -> knob kind
POLL_S = 0.1
RESULTS_KNOB = "e2fgvi_results_folder"  # hidden: the folder chosen at the first Process, kept through renames

_effects: dict[str, RemoveObjectEffect] = {}  # one bridge effect per node: its frame cache outlives a Process
_running: dict[str, ProcessRun] = {}  # by results folder: one Process at a time writes there


class ProcessRun:
    """One *Process* in flight: ``done`` is set (on the main thread) once the results are shown or the failure said;
    ``ok`` tells which. Scripts without Nuke's interface get it back finished."""

    def __init__(self, name: str, effect: RemoveObjectEffect | None = None) -> None:
        self.name = name
        self.effect = effect
        self.done = threading.Event()
        self.ok = False
        self.abandoned = threading.Event()  # the node was deleted: cancel the job, whenever it starts


def bridge_params() -> list[dict[str, Any]]:
    """The bridge's parameters that become knobs, as ``describe()`` gives them."""
    return [p for p in describe()["params"] if p["name"] not in _NOT_KNOBS]


def knob_specs(first: int, last: int) -> list[adapter.KnobSpec]:
    """Every knob of the node, in panel order."""
    described = {p["name"]: p for p in describe()["params"]}
    channel = described["matte_channel"]
    specs = [
        adapter.KnobSpec("tab", "e2fgvi", "Remove Object"),
        adapter.KnobSpec(
            "choice",
            "matte_from",
            "Matte from",
            "where the matte comes from: the Matte input, Source's alpha, or a named channel of Source",
            values=MATTE_FROM,
        ),
        adapter.KnobSpec("string", "matte_channel", channel["label"], channel["help"], default=""),
        adapter.KnobSpec("int", "range_first", "First frame", "first frame of the shot to clean", default=first),
        adapter.KnobSpec("int", "range_last", "Last frame", "last frame of the shot to clean", default=last),
        adapter.KnobSpec(
            "string", REFERENCE_FRAMES["name"], REFERENCE_FRAMES["label"], REFERENCE_FRAMES["help"], default=""
        ),
    ]
    for param in bridge_params():
        kind = "choice" if param.get("choices") else _KIND_OF_TYPE[param["type"]]
        default = param["default"]
        specs.append(
            adapter.KnobSpec(
                kind,
                param["name"],
                param["label"],
                _tooltip(param),
                default="" if default is None else default,
                values=tuple(param.get("choices") or ()),
            )
        )
    specs += [
        adapter.KnobSpec(
            "file",
            "work_folder",
            "Work folder",
            "where the rendered inputs and the results go (empty: e2fgvi/<node> beside the script)",
            default="",
        ),
        adapter.KnobSpec(
            "button",
            "process",
            "Process",
            "render the inputs, clean the range on the server, show the result",
            command=f"import {__name__} as remove_object; remove_object.process(nuke.thisNode())",
        ),
        adapter.KnobSpec(
            "int", "farm_chunk", "Farm chunk", "frames per farm task (1 or more)", default=DEFAULT_CHUNK_SIZE
        ),
        adapter.KnobSpec(
            "button",
            "submit_farm",
            "Submit to farm",
            "render the inputs and write a farm job bundle (for deadline bundle submit or openjd run)",
            command=f"import {__name__} as remove_object; remove_object.submit_to_farm(nuke.thisNode())",
        ),
        adapter.KnobSpec("text", "status", "", default="not processed yet"),
        adapter.KnobSpec("hidden", RESULTS_KNOB, "results folder", default=""),
    ]
    return specs


def _tooltip(param: dict[str, Any]) -> str:
    limits = ""
    if param.get("minimum") is not None or param.get("maximum") is not None:
        limits = f" ({param.get('minimum')} to {param.get('maximum')})"
    return f"{param['help']}{limits}"


def create() -> Any:
    """The Nodes menu command: a new Remove Object node over the script's frame range."""
    first, last = adapter.script_range()
    return adapter.create_group(ROLE, knob_specs(first, last))


def register() -> None:
    """What ``menu.py`` runs: the Nodes menu entry with its shortcut, and the callbacks."""
    adapter.add_menu_command(MENU_PATH, create, SHORTCUT)
    adapter.add_callbacks(on_script_load, on_knob_changed, on_destroy)


def work_folder(node: Any) -> str:
    """The Work folder knob, else the folder kept at the first Process, else ``e2fgvi/<node>`` beside the script."""
    chosen = str(adapter.knob_values(node, ["work_folder"])["work_folder"] or "")
    return chosen or adapter.hidden_value(node, RESULTS_KNOB) or _named_folder(node)


def _claim_work_folder(node: Any) -> str:
    """Keep the node's results folder in its hidden knob (from now on a rename changes nothing); a pasted copy that
    kept its original's folder gets one of its own, so two nodes never write over each other's results."""
    chosen = str(adapter.knob_values(node, ["work_folder"])["work_folder"] or "")
    if chosen:
        return chosen
    kept = adapter.hidden_value(node, RESULTS_KNOB)
    me = adapter.node_name(node)
    if kept and not any(
        adapter.node_name(other) != me and adapter.hidden_value(other, RESULTS_KNOB) == kept
        for other in adapter.nodes_with_role(ROLE)
    ):
        return kept
    folder = _named_folder(node)
    adapter.set_hidden_value(node, RESULTS_KNOB, folder)
    return folder


def _named_folder(node: Any) -> str:
    script = adapter.script_path()
    # an unsaved script works in this user's private temp folder (a default server's output root), never the shared one
    base = (
        os.path.dirname(os.path.abspath(script))
        if script
        else os.path.join(wire.ensure_private_folder(wire.private_temp_root()), "nuke")
    )
    return os.path.join(base, "e2fgvi", adapter.node_name(node).replace(".", "_"))


def paths(node: Any) -> dict[str, str]:
    """The EXR sequences of ``node``: rendered inputs and results, at full resolution and in proxy mode."""
    folder = work_folder(node)
    out = {}
    inputs = [clip["name"].lower() for clip in describe()["clips"] if clip["name"] != "Output"]  # source, matte, ...
    for mode in ("full", "proxy"):
        for stem in [*inputs, "clean"]:
            out[f"{stem}_{mode}"] = os.path.join(folder, mode, f"{stem}.%04d.exr")
    return out


def params_of(node: Any) -> tuple[BridgeParams, bool, int, int]:
    """The node's bridge parameters, whether the Matte input is used, and the frame range."""
    names = [p["name"] for p in bridge_params()] + ["matte_from", "matte_channel", "range_first", "range_last"]
    values = adapter.knob_values(node, names)
    first, last = int(values.pop("range_first")), int(values.pop("range_last"))
    if last < first:
        raise ParamsError(f"Last frame ({last}) is before First frame ({first})")
    matte_from = values.pop("matte_from")
    channel = str(values.pop("matte_channel") or "").strip()
    if matte_from == "Source alpha":
        channel = "A"
    elif matte_from == "Source channel" and not channel:
        raise ParamsError("Matte from is 'Source channel': name the channel in Matte channel (e.g. matte.A)")
    values["matte_channel"] = channel
    values["shot"] = f"{first}-{last}"
    return BridgeParams.from_mapping(values), matte_from == "Matte input", first, last


def reference_frames_of(node: Any) -> tuple[int, ...]:
    """The node's *Reference frames* (none on a node made before the knob existed)."""
    name = REFERENCE_FRAMES["name"]
    return parse_reference_frames(adapter.hidden_value(node, name))


def _connected_params(node: Any) -> tuple[BridgeParams, bool, int, int, tuple[int, ...]]:
    """``params_of`` plus the inputs the settings need: what both buttons check before rendering anything."""
    params, use_matte, first, last = params_of(node)
    references = reference_frames_of(node)
    if not adapter.input_connected(node, 0):
        raise ParamsError("connect the Source input")
    if use_matte and not adapter.input_connected(node, 1):
        raise ParamsError("connect the Matte input, or set Matte from to Source alpha / Source channel")
    check_reference_frames(references, (first, last), has_clip=adapter.input_connected(node, 2))
    return params, use_matte, first, last, references


def _render(
    node: Any,
    where: dict[str, str],
    first: int,
    last: int,
    use_matte: bool,
    references: tuple[int, ...],
    progress: adapter.Progress,
) -> str | None:
    """Render Source (and Matte) to EXR over the range with the internal Writes, and the Reference input at its
    reference frames; the error line, or None."""
    progress.update(0, f"rendering inputs {first}-{last}")
    adapter.set_write_paths(
        node, where["source_full"], where["source_proxy"], where["matte_full"], where["matte_proxy"]
    )
    try:
        adapter.render_inputs(node, first, last, with_matte=use_matte)
    except RuntimeError as exc:
        return f"rendering the inputs failed: {_one_line(exc)}"
    if references:
        spans = _spans(references)
        try:
            adapter.render_reference(node, where["reference_full"], where["reference_proxy"], spans)
        except RuntimeError as exc:
            return f"rendering the Reference input failed: {_one_line(exc)}"
    return None


def _spans(frames: tuple[int, ...]) -> list[tuple[int, int]]:
    """Sorted frame numbers as (first, last) runs of consecutive frames: one ``nuke.execute`` each."""
    spans: list[tuple[int, int]] = []
    for frame in frames:
        if spans and frame == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], frame)
        else:
            spans.append((frame, frame))
    return spans


def process(node: Any) -> ProcessRun | None:
    """The *Process* button: render the inputs, then run the range on the server without holding Nuke.

    Returns the running ``ProcessRun`` (already finished when Nuke has no interface), or None after a one-line
    refusal. On failure or Cancel the artist gets one line and nothing of the previous results is lost (the server
    writes each frame atomically).
    """
    try:
        params, use_matte, first, last, references = _connected_params(node)
    except BridgeError as exc:  # ParamsError included
        _fail(node, exc.message)
        return None
    folder = _claim_work_folder(node)
    if folder in _running:
        _fail(node, f"{_running[folder].name} is still processing into {folder}: wait for it or cancel it")
        return None
    mode = "proxy" if adapter.proxy_mode() else "full"
    where = paths(node)
    name = adapter.node_name(node)
    progress = adapter.Progress(f"Remove Object: {name} (rendering inputs)")
    try:
        error = _render(node, where, first, last, use_matte, references, progress)
        if not error and progress.cancelled():
            error = "cancelled"
    finally:
        progress.close()
    if error:
        _fail(node, error)
        return None
    effect = _effect_for(node, where, mode, use_matte, params, references)
    run = ProcessRun(name, effect)
    _running[folder] = run
    adapter.set_knob(node, "status", f"processing {first}-{last} ({mode})...")

    def work() -> None:
        progress = adapter.Progress(f"Remove Object: {name}")  # driven from this thread, as Foundry's example does
        try:
            failure = _run_with_progress(effect, first, last, progress, run.abandoned)
        except BaseException as exc:  # noqa: BLE001 - whatever it was, the main thread must hear of it
            failure = _one_line(exc)
        finally:
            progress.close()
        adapter.in_main_thread(
            _finish, run, node, folder, failure, where, f"{last - first + 1} frames processed ({first}-{last}, {mode})"
        )

    if adapter.is_gui():
        threading.Thread(target=work, name="e2fgvi-nuke-process", daemon=True).start()
    else:
        work()  # `nuke -t`: no event loop would ever run a queued call
    return run


def _finish(run: ProcessRun, node: Any, folder: str, failure: str | None, where: dict[str, str], done: str) -> None:
    """On Nuke's main thread: show the results (the Read pointed and reloaded) or say why not; for a node deleted
    meanwhile, nothing (its job was cancelled by the destroy callback, or its result is dropped)."""
    try:
        if not adapter.node_exists(node):
            _forget_effect(run.effect)
        elif failure:
            _fail(node, failure)
        else:
            adapter.point_result(node, where["clean_full"], where["clean_proxy"], *adapter.script_range())
            adapter.set_knob(node, "status", done)
            run.ok = True
    finally:
        _running.pop(folder, None)
        run.done.set()


def submit_to_farm(node: Any) -> str | None:
    """The *Submit to farm* button: render the inputs as *Process* does, then write a farm job bundle of the range.

    The bundle is written by ``e2fgvi farm bundle`` run as a subprocess (the host's Python cannot load the engine);
    the artist gets the bundle folder and the commands that submit or run it. Returns the folder, or None after a
    one-line message (a bad setting is refused before anything is rendered or written; the CLI writes no bundle
    when it refuses one).
    """
    try:
        params, use_matte, first, last, references = _connected_params(node)
        chunk = adapter.knob_values(node, ["farm_chunk"])["farm_chunk"]
        if isinstance(chunk, bool) or not isinstance(chunk, (int, float)) or int(chunk) != chunk or chunk < 1:
            raise ParamsError(f"Farm chunk (farm_chunk) must be a whole number of frames, 1 or more; got {chunk!r}")
    except BridgeError as exc:  # ParamsError included
        _fail(node, exc.message)
        return None
    _claim_work_folder(node)
    mode = "proxy" if adapter.proxy_mode() else "full"
    where = paths(node)
    progress = adapter.Progress(f"Remove Object: {adapter.node_name(node)} (farm)")
    try:
        error = _render(node, where, first, last, use_matte, references, progress)
        if error:
            _fail(node, error)
            return None
        progress.update(50, "writing the farm job bundle")
        folder = _next_bundle_folder(os.path.join(work_folder(node), "farm"))
        arguments = ["farm", "bundle", folder, "--plate", where[f"source_{mode}"]]
        if use_matte:
            arguments += ["--matte", where[f"matte_{mode}"]]
        arguments += ["--out", where[f"clean_{mode}"], "--shot", f"{first}-{last}", "--chunk", str(int(chunk))]
        if references:
            arguments += ["--reference", f"{format_frames(references)}={where[f'reference_{mode}']}"]
        arguments += farm_flags(params)
        done = launcher.run_cli(arguments)
        if done.returncode != 0:
            _fail(node, _cli_error(done.stderr))
            return None
        run_here = [
            line.split("run it here:", 1)[1].strip() for line in done.stderr.splitlines() if "run it here:" in line
        ]
        adapter.set_knob(node, "status", f"farm bundle written: {folder} ({first}-{last}, {mode})")
        lines = [f"Remove Object: farm job bundle written to {folder}", f"submit it: deadline bundle submit {folder}"]
        lines += [f"or run it here: {text}" for text in run_here[:1]]
        adapter.message("\n".join(lines))
        return folder
    finally:
        progress.close()


def farm_flags(params: BridgeParams) -> list[str]:
    """The node's settings as ``e2fgvi farm bundle`` flags (the shot and chunk travel as ``--shot``/``--chunk``)."""
    flags = []
    for key, value in params.request_fields().items():
        if key == "shot":
            continue
        if field_for(key).type == "bool":  # a switch (store_true): on is the bare flag, off is no flag at all
            flags += [field_for(key).option] if value else []
        else:
            flags += [field_for(key).option, str(value)]
    return flags


def _next_bundle_folder(parent: str) -> str:
    """A new ``bundle_vNNN`` folder name under ``parent``: a bundle already written (maybe submitted) is never reused."""
    number = 1
    while os.path.exists(os.path.join(parent, f"bundle_v{number:03d}")):
        number += 1
    return os.path.join(parent, f"bundle_v{number:03d}")


def _cli_error(stderr: str) -> str:
    """The CLI's one error line without its program prefix (``e2fgvi farm: error: ...``)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = lines[-1] if lines else "e2fgvi farm bundle failed without a message"
    for prefix in ("e2fgvi farm: error:", "e2fgvi: error:", "error:"):
        if text.startswith(prefix):
            return text[len(prefix) :].strip()
    return text


def _effect_for(
    node: Any, where: dict[str, str], mode: str, use_matte: bool, params: BridgeParams, references: tuple[int, ...]
):
    key = f"{adapter.node_name(node)}|{mode}|{use_matte}|{where['clean_' + mode]}"
    effect = _effects.get(key)
    if effect is None:
        matte = PathClip(where[f"matte_{mode}"]) if use_matte else None
        effect = RemoveObjectEffect(PathClip(where[f"source_{mode}"]), matte, params, output=where[f"clean_{mode}"])
        _effects[key] = effect
    effect.set_params(params)
    effect.set_reference(PathClip(where[f"reference_{mode}"]) if references else None, references)
    return effect


def _forget_effect(effect: RemoveObjectEffect | None) -> None:
    """Close a deleted node's effect and drop it (its frame cache and connection)."""
    for key, known in list(_effects.items()):
        if known is effect:
            del _effects[key]
    if effect is not None:
        effect.close()


def _run_with_progress(
    effect: RemoveObjectEffect, first: int, last: int, progress: adapter.Progress, abandoned: threading.Event
) -> str | None:
    """Run the range on a worker thread; this thread keeps the progress window current and watches Cancel (and
    ``abandoned``: the node was deleted), asking again every poll, so a cancel before the job started still holds."""
    latest: list[Any] = []
    failure: list[str] = []
    effect.on_progress = latest.append

    def work() -> None:
        try:
            effect.process_range(first, last)
        except BridgeCancelled:
            failure.append("cancelled")
        except BridgeError as exc:
            failure.append(exc.message)

    worker = threading.Thread(target=work, name="e2fgvi-nuke-process", daemon=True)
    progress.update(0, f"sending frames {first}-{last} to the server")  # 0% at once, however fast the first report
    worker.start()
    while worker.is_alive():
        if latest:
            report = latest[-1]
            progress.update(int(100 * report.fraction), report.text)
        if progress.cancelled() or abandoned.is_set():
            effect.cancel()
        time.sleep(POLL_S)
    worker.join()
    if not failure and (progress.cancelled() or abandoned.is_set()):  # pressed as the last frames came: cancel wins
        return "cancelled"
    return failure[0] if failure else None


def _fail(node: Any, text: str) -> bool:
    adapter.set_knob(node, "status", f"failed: {text}")
    adapter.message(f"Remove Object: {text}")
    return False


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def count_results(node: Any) -> tuple[int, int]:
    """How many frames of the node's range have a result on disk (full resolution), and the range length."""
    values = adapter.knob_values(node, ["range_first", "range_last"])
    first, last = int(values["range_first"]), int(values["range_last"])
    pattern = paths(node)["clean_full"]
    found = sum(1 for f in range(first, last + 1) if os.path.exists(pattern % f))
    return found, last - first + 1


def on_script_load() -> None:
    """Re-find each node's results after a script is opened and say so in its status line (and disable internal
    Writes a script saved by an older version left enabled)."""
    for node in adapter.nodes_with_role(ROLE):
        adapter.disable_writes(node)
        found, total = count_results(node)
        text = f"{found} of {total} frames processed" if found else "not processed yet"
        adapter.set_knob(node, "status", text)


def on_knob_changed() -> None:
    """A setting changed on one of our nodes: the results on disk no longer match it until Process runs again."""
    node = adapter.this_node()
    if adapter.role_of(node) != ROLE:
        return
    settings = {p["name"] for p in bridge_params()} | {"matte_from", "matte_channel", REFERENCE_FRAMES["name"]}
    if adapter.this_knob_name() in settings:
        adapter.set_knob(node, "status", "settings changed: press Process")


def on_destroy() -> None:
    """One of our nodes is being deleted: cancel the job it has on the server (its result would have nowhere to go)."""
    node = adapter.this_node()
    if adapter.role_of(node) != ROLE:
        return
    run = _running.get(work_folder(node))
    if run is not None:
        run.abandoned.set()
