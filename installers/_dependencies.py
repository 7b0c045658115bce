"""The third-party packages the host side needs (pyzmq, msgpack, numpy), fetched as wheels for a host's Python.

Why: Blender's, Nuke's and Resolve's Pythons are not ours; asking an artist to pip-install into them needs admin
rights on Windows/macOS and is lost at every host update. So an install carries what the host side imports: wheels
in the Blender extension (Blender's documented ``wheels = [...]``), and a ``_vendor/pythonX.Y`` folder for Nuke and
Resolve. The list is not written by hand: a fresh interpreter imports the host side and reports which non-standard
modules it loaded (``blender.host_side_modules``); their distributions and our own requirement specifiers follow.
Wheels come from the package index, or with ``--wheels DIR`` from that folder only (studios without internet).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from e2fgvi_core.errors import ConfigError

DISTRIBUTION = "e2fgvi-remove"  # our own distribution: its requirement specifiers bound the vendored versions
PYTHON_VERSION = re.compile(r"3\.\d{1,2}")

# pip ``--platform`` tags per OS (the 64-bit builds the hosts ship): used when installing for another OS than this
# one, and always for Blender's wheels, whose manifest lists the wheels of the OS it is installed on.
PLATFORM_TAGS = {
    "linux": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows": ("win_amd64",),
    "macos": ("macosx_11_0_arm64",),
}


def add_arguments(parser, what: str) -> None:
    """``--wheels DIR`` (offline installs) and ``--host-python X.Y`` (``what``: the host whose Python it is)."""
    parser.add_argument(
        "--wheels",
        metavar="DIR",
        help="take the pyzmq/msgpack/numpy wheels from DIR only (no package index; for studios without internet)",
    )
    parser.add_argument(
        "--host-python",
        action="append",
        default=[],
        metavar="X.Y",
        help=f"the Python version of {what} (repeatable; default: detected)",
    )
    parser.add_argument(
        "--skip-dependencies",
        action="store_true",
        help="do not carry pyzmq/msgpack/numpy: the host's Python already has them",
    )


def vendored_dependencies(
    options: dict, platform: str, pythons: list[str], prefix: str, exclude: tuple[str, ...] = ()
) -> dict[str, bytes]:
    """The dependency files for each Python in ``pythons``, under ``prefix/pythonX.Y/`` (nothing with
    ``--skip-dependencies``)."""
    if options.get("skip_dependencies"):
        return {}
    from .blender import host_side_distributions

    reqs = requirements(host_side_distributions(), exclude)
    files: dict[str, bytes] = {}
    for python in pythons:
        for name, content in vendor_tree(reqs, python, platform, options.get("wheels")).items():
            files[f"{prefix}/python{python}/{name}"] = content
    return files


def requirements(distributions: list[str], exclude: tuple[str, ...] = ()) -> list[str]:
    """Requirement strings for ``distributions`` with our own specifiers (``pyzmq>=25``), minus ``exclude``."""
    try:
        ours = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        ours = []
    specified = {}
    for requirement in ours:
        if ";" in requirement:
            continue
        name = re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0]
        specified[_normal(name)] = requirement.replace(" ", "")
    wanted = [d for d in distributions if _normal(d) not in {_normal(e) for e in exclude}]
    return sorted(specified.get(_normal(d), d) for d in wanted)


def checked_pythons(versions: list[str]) -> list[str]:
    for version in versions:
        if not PYTHON_VERSION.fullmatch(version):
            raise ConfigError(f"--host-python must look like 3.11, got {version!r}")
    return sorted(set(versions), key=lambda v: tuple(int(p) for p in v.split(".")))


def vendor_tree(reqs: list[str], python: str, platform: str, wheels: str | None) -> dict[str, bytes]:
    """Every file ``pip install --target`` puts down for ``reqs`` on ``python``/``platform``, by relative path."""
    with tempfile.TemporaryDirectory(prefix="e2fgvi-vendor-") as temp:
        target = Path(temp) / "target"
        _pip(["install", "--target", str(target), "--no-compile"], reqs, python, platform, wheels)
        files = {}
        for path in sorted(target.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[path.relative_to(target).as_posix()] = path.read_bytes()
        return files


def wheel_files(reqs: list[str], python: str, platform: str, wheels: str | None) -> dict[str, bytes]:
    """The wheel files of ``reqs`` for ``python``/``platform`` (no dependencies of theirs: the host side needs none)."""
    with tempfile.TemporaryDirectory(prefix="e2fgvi-wheels-") as temp:
        _pip(["download", "--dest", temp, "--no-deps"], reqs, python, platform, wheels)
        return {p.name: p.read_bytes() for p in sorted(Path(temp).glob("*.whl"))}


def _pip(command: list[str], reqs: list[str], python: str, platform: str, wheels: str | None) -> None:
    argv = [
        sys.executable,
        "-m",
        "pip",
        *command,
        "--only-binary=:all:",
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
    ]
    for tag in PLATFORM_TAGS[platform]:
        argv += ["--platform", tag]
    if wheels:
        folder = Path(wheels).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"--wheels {wheels}: no such folder")
        argv += ["--no-index", "--find-links", str(folder.absolute())]
    env = {**os.environ, "PIP_REQUIRE_VIRTUALENV": "0"}
    done = subprocess.run([*argv, *reqs], capture_output=True, text=True, timeout=900, check=False, env=env)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        where = f"in {wheels}" if wheels else "on the package index (or give --wheels DIR)"
        raise ConfigError(
            f"cannot get {', '.join(reqs)} for Python {python} on {platform} {where}: "
            f"{lines[-1] if lines else 'pip failed'}"
        )


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_python_version(program: str) -> str | None:
    """``X.Y`` of ``program`` on PATH (the system Python a host uses), or None."""
    found = shutil.which(program)
    if not found:
        return None
    try:
        done = subprocess.run(
            [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return None
    version = done.stdout.strip()
    return version if done.returncode == 0 and PYTHON_VERSION.fullmatch(version) else None
