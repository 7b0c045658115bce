"""The per-user store of model checkpoints.

Users download the official checkpoints themselves (we never fetch weights) and install them with
``e2fgvi weights add PATH``. Installing validates the file once: it is loaded without unpickling code
(``weights_only=True``), its variant is detected from its keys, it must load into our generator with
``strict=True``, and its sha256 is recorded so that every output frame can name the exact weights that made it.
Later runs find weights by variant or by name without re-validating them.

Which installed weights engine ``auto`` may use is the user's choice, never a side effect of installing: ``auto``
takes the store's *default* (``e2fgvi weights default NAME``) or else an *official* checkpoint (recognised by its
sha256, ``OFFICIAL_SHA256``), and otherwise the weight-free ``propagate`` engine. A 3-step training experiment
installed to try it out therefore never replaces the engine of every later run.

Layout of the store (``$E2FGVI_WEIGHTS_DIR``, default a per-user cache folder)::

    index.json            {"weights": [{"name", "variant", "file", "sha256", "bytes", "source", "added"}]}
    state.json            {"default": NAME or null}: the user's choice, kept apart from the index
    <name>.pth            the checkpoint, copied verbatim
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from e2fgvi_core import user_dirs
from e2fgvi_core.atomic_files import write_atomic, write_text_atomic
from e2fgvi_core.errors import CheckpointError

WEIGHTS_DIR_ENV = "E2FGVI_WEIGHTS_DIR"
INDEX_FILE = "index.json"
STATE_FILE = "state.json"

OFFICIAL_SHA256: dict[str, str] = {}
"""sha256 -> file name of the official MCG-NKU checkpoints (``E2FGVI-HQ-CVPR22.pth``, ``E2FGVI-CVPR22.pth``).

Empty on purpose: MCG-NKU publish the files on Google Drive / Baidu / OneDrive (README of github.com/MCG-NKU/E2FGVI)
without any checksum, and no copy of them was available where this code was written, so no digest here could be
verified. Add ``"<sha256sum of the downloaded file>": "E2FGVI-HQ-CVPR22.pth"`` once computed from the files of
those links. Until then ``auto`` uses installed weights only when they are the store's default: install the official
checkpoint with ``e2fgvi weights add --default E2FGVI-HQ-CVPR22.pth``.
"""

DOWNLOAD_HELP = (
    "Download the official checkpoints (E2FGVI-HQ-CVPR22.pth recommended, E2FGVI-CVPR22.pth) from the links in "
    "the README of github.com/MCG-NKU/E2FGVI, then install one for engine auto to use with: "
    "e2fgvi weights add --default PATH/TO/E2FGVI-HQ-CVPR22.pth"
)


@dataclass(frozen=True)
class InstalledWeights:
    """One checkpoint known to the store (or given by path), identified by its sha256."""

    name: str
    variant: str
    path: Path
    sha256: str
    bytes: int
    source: str = ""
    added: str = ""

    @property
    def official(self) -> bool:
        """Whether these are an official MCG-NKU checkpoint, by sha256 (``OFFICIAL_SHA256``)."""
        return self.sha256 in OFFICIAL_SHA256

    def to_json(self) -> dict:
        data = asdict(self)
        data["file"] = self.path.name
        del data["path"]
        return data


def weights_dir() -> Path:
    """The store folder: ``$E2FGVI_WEIGHTS_DIR`` or the platform's per-user cache folder."""
    override = os.environ.get(WEIGHTS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return user_dirs.user_cache_dir() / "weights"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _build_from_checkpoint(path: Path):
    """Load ``path`` safely and strictly into a new generator: ``(variant, model)`` or ``CheckpointError``."""
    from e2fgvi_core.models import build_generator, load_checkpoint

    variant, state_dict = load_checkpoint(path)
    model = build_generator(variant)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise CheckpointError(f"{path}: does not load into the {variant} generator: {first_line}") from exc
    return variant, model


def validate_checkpoint(path: str | Path) -> str:
    """Load ``path`` safely and strictly into our generator; return its variant or raise ``CheckpointError``."""
    return _build_from_checkpoint(Path(path))[0]


def _weights_for_file(path: Path, variant: str) -> InstalledWeights:
    """Describe a checkpoint used straight from its path (not from the store)."""
    return InstalledWeights(
        name=path.stem,
        variant=variant,
        path=path,
        sha256=file_sha256(path),
        bytes=path.stat().st_size,
        source=str(path.resolve()),
    )


def _check_variant(path: Path, found: str, wanted: str | None) -> None:
    if wanted and found != wanted:
        raise CheckpointError(f"{path}: is an {found} checkpoint, but engine {wanted} was asked for")


def _read_index(folder: Path) -> list[dict]:
    index_path = folder / INDEX_FILE
    if not index_path.exists():
        return []
    try:
        data = json.loads(index_path.read_text())
        entries = data["weights"]
        if not isinstance(entries, list):
            raise TypeError("'weights' is not a list")
        return [dict(entry) for entry in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"{index_path}: the weights index is damaged ({exc}); remove it and add the weights again"
        )


def _write_index(folder: Path, entries: list[dict]) -> None:
    write_text_atomic(folder / INDEX_FILE, json.dumps({"weights": entries}, indent=1))


def default_name() -> str | None:
    """The name set with ``e2fgvi weights default NAME`` (None: no default), from the store's ``state.json``."""
    path = weights_dir() / STATE_FILE
    if not path.exists():
        return None
    try:
        name = json.loads(path.read_text()).get("default")
    except (ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: the weights store's state is damaged ({exc}); set the default again") from None
    return name if isinstance(name, str) and name else None


def set_default(name: str | None) -> InstalledWeights | None:
    """Make installed weights ``name`` the ones engine ``auto`` uses (None: no default); returns them."""
    chosen = None
    if name is not None:
        chosen = _find_installed(name)
    write_text_atomic(weights_dir() / STATE_FILE, json.dumps({"default": name}, indent=1))
    return chosen


def _find_installed(name: str) -> InstalledWeights:
    installed = installed_weights()
    for weights in installed:
        if weights.name == name:
            return weights
    names = f"installed: {', '.join(w.name for w in installed)}" if installed else "none installed"
    raise CheckpointError(f"no installed weights named {name!r} ({names}); see: e2fgvi weights list")


def remove_weights(name: str) -> InstalledWeights:
    """Take installed weights ``name`` out of the store (index entry, then file); clears the default if it was it."""
    folder = weights_dir()
    entries = _read_index(folder)
    found = [entry for entry in entries if entry.get("name") == name]
    # an entry whose file was deleted by hand is removed too (installed_weights() no longer lists it)
    removed = _entry_to_weights(folder, found[-1]) if found else _find_installed(name)
    entries = [entry for entry in entries if entry.get("name") != name]
    _write_index(folder, entries)  # first the index: a crash in between leaves a stray file, never a dangling entry
    removed.path.unlink(missing_ok=True)
    if default_name() == name:
        set_default(None)
    return removed


def auto_weights() -> InstalledWeights | None:
    """The installed weights engine ``auto`` may use: the default, else the newest official checkpoint (E2FGVI-HQ
    first), else None (``auto`` then runs the weight-free engine)."""
    installed = installed_weights()
    default = default_name()
    for weights in installed:
        if weights.name == default:
            return weights
    official = [w for w in installed if w.official]
    official.sort(key=lambda w: w.variant == "e2fgvi_hq")  # stable: newest last within each variant, HQ last
    return official[-1] if official else None


def _entry_to_weights(folder: Path, entry: dict) -> InstalledWeights:
    return InstalledWeights(
        name=entry["name"],
        variant=entry["variant"],
        path=folder / entry["file"],
        sha256=entry["sha256"],
        bytes=int(entry.get("bytes", 0)),
        source=entry.get("source", ""),
        added=entry.get("added", ""),
    )


def installed_weights() -> list[InstalledWeights]:
    """Checkpoints in the store whose files are still present, oldest first."""
    folder = weights_dir()
    result = []
    for entry in _read_index(folder):
        weights = _entry_to_weights(folder, entry)
        if weights.path.is_file():
            result.append(weights)
    return result


def add_weights(path: str | Path, name: str | None = None, make_default: bool = False) -> InstalledWeights:
    """Validate ``path`` and copy it into the store under ``name`` (default: the file's stem); ``make_default``:
    also make them the weights engine ``auto`` uses."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise CheckpointError(f"{source}: no such checkpoint file. {DOWNLOAD_HELP}")
    name = name or source.stem
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise CheckpointError(f"invalid weights name {name!r}: use letters, digits, '-', '_' and '.'")
    variant = validate_checkpoint(source)
    folder = weights_dir()
    digests: list[str] = []

    def copy(temp: Path) -> None:
        shutil.copyfile(source, temp)
        digests.append(file_sha256(temp))  # of the copy: what the store holds, whatever happened to the source

    try:
        write_atomic(folder / f"{name}.pth", copy)
        sha256 = digests[0]
    except OSError as exc:
        raise CheckpointError(f"cannot install weights into {folder}: {exc.strerror or exc}") from exc
    installed = InstalledWeights(
        name=name,
        variant=variant,
        path=folder / f"{name}.pth",
        sha256=sha256,
        bytes=(folder / f"{name}.pth").stat().st_size,
        source=str(source.resolve()),
        added=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    entries = [entry for entry in _read_index(folder) if entry.get("name") != name]
    entries.append(installed.to_json())
    _write_index(folder, entries)
    if make_default:
        set_default(name)
    return installed


def resolve_weights(spec: str | None = None, variant: str | None = None) -> InstalledWeights:
    """Find the weights to use.

    ``spec`` is a checkpoint path, the name of installed weights, or ``None`` for installed weights of ``variant``
    (an engine named explicitly): the default if it is of that variant, else the newest official checkpoint of it,
    else the most recently installed of it. With ``variant`` None as well, the weights ``auto_weights`` picks. A
    path outside the store is validated (strict load) before use, because nothing vouches for it.
    """
    if spec:
        candidate = Path(spec).expanduser()
        if candidate.is_file():
            found_variant = validate_checkpoint(candidate)
            _check_variant(candidate, found_variant, variant)
            return _weights_for_file(candidate, found_variant)
        installed = installed_weights()
        for weights in installed:
            if weights.name == spec:
                if variant and weights.variant != variant:
                    raise CheckpointError(f"weights {spec!r} are {weights.variant}, but engine {variant} was asked for")
                return weights
        names = ", ".join(w.name for w in installed) or "none installed"
        raise CheckpointError(
            f"no checkpoint file or installed weights named {spec!r} (installed: {names}). {DOWNLOAD_HELP}"
        )
    if not variant:
        chosen = auto_weights()
        if chosen is None:
            raise CheckpointError(f"no default or official weights installed in {weights_dir()}. {DOWNLOAD_HELP}")
        return chosen
    matching = [w for w in installed_weights() if w.variant == variant]
    if not matching:
        raise CheckpointError(f"no {variant} weights installed in {weights_dir()}. {DOWNLOAD_HELP}")
    default = default_name()
    preferred = [w for w in matching if w.name == default] or [w for w in matching if w.official] or matching
    return preferred[-1]


def load_generator(spec: str | None, variant: str | None, device=None):
    """Resolve, load and return ``(model, weights)``: the generator in eval mode on ``device``.

    The checkpoint is read once: a path given directly is validated by the strict load itself.
    """
    import torch

    direct = Path(spec).expanduser() if spec else None
    if direct is not None and direct.is_file():
        path = direct
        weights = None
    else:
        weights = resolve_weights(spec, variant)
        path = weights.path
    found_variant, model = _build_from_checkpoint(path)
    _check_variant(path, found_variant, variant)
    if weights is None:
        weights = _weights_for_file(path, found_variant)
    model.eval()
    if device is not None:
        model.to(torch.device(device))
    return model, weights
