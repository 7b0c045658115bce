"""Machinery every host installer shares: per-OS user folders, a plan of changes, dry run, apply, undo.

Why a plan of changes rather than code that writes as it goes: ``--dry-run`` must print every change and write
nothing, a second install must change nothing, and uninstall must leave the user's folders as they were, byte for
byte. So an installer only *describes* what it wants (``WriteFile``, ``GuardedBlock``); ``install`` compares each
change with what is on disk (unchanged changes are skipped and reported as such), applies the rest atomically
(temp file + rename), and records in a small receipt what it created: files, folders, blocks. ``uninstall`` reads
the receipt and undoes exactly that: it deletes the files it created, takes out its blocks (restoring the file's
bytes), and removes the folders it created once they are empty. A user's own file is changed only through a
guarded block (``# >>> e2fgvi NAME >>>`` ... ``# <<< e2fgvi NAME <<<``), after a backup of the file as it was.

A host installer is a module of this package (``installers/<host>.py``, no leading ``_``) with:
``NAME``, ``DESCRIPTION``, ``add_arguments(parser)`` (its own options; may add none) and
``plan(ctx: InstallContext, options: dict) -> list[Change]`` (what an install writes). ``follow_up(ctx, options)``
may return commands to print (or, with ``--enable``, to run) after an install/uninstall, e.g. ``systemctl``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from e2fgvi_core.atomic_files import write_atomic
from e2fgvi_core.errors import ConfigError, OutputError

PLATFORMS = ("linux", "macos", "windows")
RECEIPT_VERSION = 1
BACKUP_SUFFIX = ".e2fgvi-backup"


def current_platform() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


@dataclass(frozen=True)
class InstallContext:
    """Where an installer writes: the user's home and per-OS folders (from ``env``), or ``target`` when given.

    Everything is derived from ``env`` (``HOME``, ``XDG_CONFIG_HOME``, ``XDG_DATA_HOME``, ``APPDATA``), so tests
    point it at a temporary home and nothing outside that folder is touched.
    """

    platform: str
    env: dict[str, str]
    target: Path | None = None
    dry_run: bool = False
    echo: Callable[[str], None] = print

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ConfigError(f"platform must be one of {', '.join(PLATFORMS)}; got {self.platform!r}")

    @classmethod
    def from_environment(
        cls, platform: str | None = None, target: str | None = None, dry_run: bool = False, echo=print
    ) -> InstallContext:
        return cls(
            platform or current_platform(),
            dict(os.environ),
            Path(target).expanduser() if target else None,
            dry_run,
            echo,
        )

    @property
    def home(self) -> Path:
        home = self.env.get("USERPROFILE") if self.platform == "windows" else None
        home = home or self.env.get("HOME")
        if not home:
            raise ConfigError("cannot find your home folder: HOME is not set")
        return Path(home)

    @property
    def config_dir(self) -> Path:
        """Per-user configuration: ``$XDG_CONFIG_HOME``/``~/.config``, ``~/Library/Application Support``, ``%APPDATA%``."""
        if self.platform == "linux":
            return Path(self.env.get("XDG_CONFIG_HOME") or self.home / ".config")
        if self.platform == "macos":
            return self.home / "Library" / "Application Support"
        return self._appdata()

    @property
    def data_dir(self) -> Path:
        """Per-user data: ``$XDG_DATA_HOME``/``~/.local/share``, ``~/Library/Application Support``, ``%APPDATA%``."""
        if self.platform == "linux":
            return Path(self.env.get("XDG_DATA_HOME") or self.home / ".local" / "share")
        if self.platform == "macos":
            return self.home / "Library" / "Application Support"
        return self._appdata()

    def _appdata(self) -> Path:
        appdata = self.env.get("APPDATA")
        return Path(appdata) if appdata else self.home / "AppData" / "Roaming"

    def receipt_path(self, name: str) -> Path:
        """Where the record of what ``install NAME`` created lives (removed by uninstall)."""
        return self.data_dir / "e2fgvi" / "installed" / f"{name}.json"


# --- changes ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WriteFile:
    """A file that is ours: created (or replaced) with exactly ``content``; deleted by uninstall."""

    path: Path
    content: bytes
    mode: int = 0o644

    def describe(self) -> str:
        return f"write {self.path} ({len(self.content)} bytes)"


@dataclass(frozen=True)
class GuardedBlock:
    """Text of ours inside a user's file, between marker lines; the file is backed up before the first change."""

    path: Path
    name: str
    text: str
    comment: str = "#"

    def describe(self) -> str:
        return f"add the e2fgvi {self.name} block to {self.path}"

    @property
    def begin(self) -> str:
        return f"{self.comment} >>> e2fgvi {self.name} >>> (added by `e2fgvi install`; remove with `e2fgvi uninstall`)"

    @property
    def end(self) -> str:
        return f"{self.comment} <<< e2fgvi {self.name} <<<"


Change = WriteFile | GuardedBlock


def block_text(block: GuardedBlock) -> str:
    body = block.text if block.text.endswith("\n") else block.text + "\n"
    return f"{block.begin}\n{body}{block.end}\n"


def insert_block(original: str, block: GuardedBlock) -> str:
    """``original`` with the block appended, or its older version replaced in place. When ``original`` does not
    end a line, a "\\n" is put before the block (``needs_separator``); ``remove_block`` can take it out again."""
    start = original.find(block.begin)
    if start >= 0:
        stripped = remove_block(original, block)
        return stripped[:start] + block_text(block) + stripped[start:]
    return original + ("\n" if needs_separator(original) else "") + block_text(block)


def needs_separator(original: str) -> bool:
    return bool(original) and not original.endswith("\n")


def remove_block(text: str, block: GuardedBlock, drop_separator: bool = False) -> str:
    """``text`` without the block; with ``drop_separator`` (the install added one) and the block still last in
    the file, the "\\n" before it goes too, so the file is byte for byte as before the install."""
    start = text.find(block.begin)
    if start < 0:
        return text
    end = text.find(block.end, start)
    if end < 0:
        raise OutputError(f"{block.path}: the e2fgvi {block.name} block has no end line {block.end!r}; fix it by hand")
    end = min(len(text), end + len(block.end) + 1)
    if drop_separator and end == len(text) and start > 0 and text[start - 1] == "\n":
        start -= 1
    return text[:start] + text[end:]


# --- apply and undo -----------------------------------------------------------------------------------------------
@dataclass
class Receipt:
    """What an install created, so uninstall undoes exactly that (and nothing the user made)."""

    name: str
    files: list[str] = field(default_factory=list)
    blocks: list[dict[str, str]] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        data = {
            "version": RECEIPT_VERSION,
            "name": self.name,
            "files": self.files,
            "blocks": self.blocks,
            "dirs": self.dirs,
        }
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def load(cls, path: Path, name: str) -> Receipt | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OutputError(f"cannot read the install record {path}: {exc}") from None
        return cls(name, list(data.get("files", [])), list(data.get("blocks", [])), list(data.get("dirs", [])))


def install(ctx: InstallContext, name: str, changes: list[Change]) -> int:
    """Apply ``changes`` (or print them with ``ctx.dry_run``); returns how many changed something."""
    receipt_path = ctx.receipt_path(name)
    receipt = Receipt.load(receipt_path, name) or Receipt(name)
    changed = 0
    for change in changes:
        path = Path(change.path)
        before = path.read_bytes() if path.is_file() else None
        if isinstance(change, WriteFile):
            after = change.content
        else:
            after = insert_block((before or b"").decode("utf-8"), change).encode("utf-8")
        if before == after:
            ctx.echo(f"unchanged: {path}")
            continue
        changed += 1
        ctx.echo(("would " if ctx.dry_run else "") + change.describe())
        if ctx.dry_run:
            continue
        _note_dirs(receipt, path.parent)
        if isinstance(change, GuardedBlock):
            backup = path.with_name(path.name + BACKUP_SUFFIX)
            if before is not None and not backup.exists():
                _write_atomic(backup, before)
                ctx.echo(f"backed up {path} to {backup}")
            if not _listed(receipt.blocks, path, change.name):
                text = (before or b"").decode("utf-8")
                receipt.blocks.append(
                    {
                        "path": str(path),
                        "name": change.name,
                        "comment": change.comment,
                        "created": before is None,
                        "separator": needs_separator(text) and change.begin not in text,
                    }
                )
        elif str(path) not in receipt.files:
            receipt.files.append(str(path))
        _write_atomic(path, after, getattr(change, "mode", 0o644))
    if changed and not ctx.dry_run:
        _note_dirs(receipt, receipt_path.parent)
        _write_atomic(receipt_path, receipt.to_json())
    if not changed:
        ctx.echo(f"{name}: already installed, nothing to change")
    return changed


def uninstall(ctx: InstallContext, name: str) -> int:
    """Undo what ``install`` recorded; returns how many things it removed (0: nothing was installed)."""
    receipt_path = ctx.receipt_path(name)
    receipt = Receipt.load(receipt_path, name)
    if receipt is None:
        ctx.echo(f"{name}: nothing to uninstall (no record at {receipt_path})")
        return 0
    prefix = "would " if ctx.dry_run else ""
    removed = 0
    for entry in receipt.blocks:
        path = Path(entry["path"])
        block = GuardedBlock(path, entry["name"], "", entry.get("comment", "#"))
        if not path.is_file():
            continue
        text = path.read_text("utf-8")
        stripped = remove_block(text, block, drop_separator=bool(entry.get("separator")))
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        ctx.echo(f"{prefix}take the e2fgvi {block.name} block out of {path}")
        removed += 1
        if ctx.dry_run:
            continue
        if entry.get("created") and not stripped:
            path.unlink()
        else:
            _write_atomic(path, stripped.encode("utf-8"))
        if backup.is_file() and (not path.exists() or backup.read_bytes() == path.read_bytes()):
            backup.unlink()
        elif backup.is_file():
            ctx.echo(f"kept {backup}: {path} changed since the install")
    for name_ in receipt.files:
        path = Path(name_)
        if path.is_file():
            ctx.echo(f"{prefix}remove {path}")
            removed += 1
            if not ctx.dry_run:
                path.unlink()
    if ctx.dry_run:
        ctx.echo(f"{prefix}remove {receipt_path}")
        return removed
    receipt_path.unlink()
    for folder in sorted(receipt.dirs, key=lambda d: -len(Path(d).parts)):
        with contextlib.suppress(OSError):  # not empty: the user put something there since; leave it
            Path(folder).rmdir()
    return removed


def _listed(blocks: list[dict[str, str]], path: Path, name: str) -> bool:
    return any(b["path"] == str(path) and b["name"] == name for b in blocks)


def _note_dirs(receipt: Receipt, folder: Path) -> None:
    """Record the folders above ``folder`` that do not exist yet (created by this install)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in missing:
        if str(path) not in receipt.dirs:
            receipt.dirs.append(str(path))


def _write_atomic(path: Path, content: bytes, mode: int = 0o644) -> None:
    """``content`` at ``path`` with ``mode``, whole or not at all: the project's one atomic writer
    (``e2fgvi_core.atomic_files``, standard library only, so the installer loads nothing heavy); an OS error is the
    installer's one-line ``OutputError``."""

    def write(temp: Path) -> None:
        temp.write_bytes(content)
        os.chmod(temp, mode)

    try:
        write_atomic(path, write)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
