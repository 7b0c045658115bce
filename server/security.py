"""Who may talk to the server and where it may write.

Why: the server writes files on behalf of whoever can reach its socket. By default it only listens on loopback
and demands its user's access key, so it can only be asked to write where that user could write anyway: it writes
wherever the user may (never over an input frame, atomically, without following a link swapped in meanwhile). A
server others can reach is different: a network bind needs CURVE (``zmq.auth``: every client proves it holds a key
the server was told to trust) unless the operator says ``--insecure``, and it needs explicit ``--output-root``
folders; every output path must then resolve, after following symlinks, to a folder inside one of them.
``--output-root`` on a private server restricts it the same way.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import zmq
import zmq.auth

from e2fgvi_core.atomic_files import write_text_atomic
from e2fgvi_core.errors import ConfigError, OutputError
from e2fgvi_server import protocol as wire
from e2fgvi_server.config import ServerConfig

log = logging.getLogger("e2fgvi.server")

ROOTS_SETTING = "--output-root DIR (E2FGVI_SERVER_OUTPUT_ROOTS) of e2fgvi-server"

SERVER_KEY_NAME = "server"
CLIENT_KEY_NAME = "client"


def check_bind_policy(config: ServerConfig) -> list[str]:
    """Refuse a network bind without CURVE unless ``insecure``, and a server others can reach without output
    roots; return the warnings to log."""
    exposed = [e for e in config.binds if not wire.is_loopback_endpoint(e)]
    warnings: list[str] = []
    if exposed and not config.curve_enabled:
        if not config.insecure:
            raise ConfigError(
                f"binding {', '.join(exposed)} exposes the server to the network: give CURVE keys "
                "(--curve-secret-key, --curve-authorized-dir; make them with `e2fgvi-server keys`) "
                "or pass --insecure explicitly"
            )
        warning = (
            f"INSECURE: {', '.join(exposed)} is reachable from the network without authentication or "
            "encryption; anyone who can connect can read frames and write files under the output roots"
        )
        warnings.append(warning)
    if config.curve_enabled and not zmq.has("curve"):
        raise ConfigError("CURVE keys were given but this libzmq was built without CURVE support")
    _check_roots_policy(config, exposed)
    return warnings


def _check_roots_policy(config: ServerConfig, exposed: list[str]) -> None:
    """A server others can use must be told where it may write: it would write as its user for them."""
    if config.output_roots or config.private:
        return
    if exposed:
        why = f"binding {', '.join(exposed)} lets other machines use the server"
    elif config.open_access:
        why = "--open-access lets every local user use the server"
    else:
        why = "CURVE lets other users' keys use the server"
    raise ConfigError(
        f"{why}, so it must be told where it may write: give {ROOTS_SETTING}, repeatable "
        "(a private loopback server, which demands your access key, writes wherever you may)"
    )


def generate_keys(folder: str | os.PathLike) -> dict[str, Path]:
    """Write a server and a client key pair into ``folder`` (``*.key`` public, ``*.key_secret`` secret).

    The client's public key is also copied into ``folder/authorized`` so the pair works at once with
    ``--curve-authorized-dir folder/authorized``; more clients are authorised by dropping their public key there.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    authorized = folder / "authorized"
    authorized.mkdir(exist_ok=True)
    paths: dict[str, Path] = {}
    for name in (SERVER_KEY_NAME, CLIENT_KEY_NAME):
        public, secret = zmq.auth.create_certificates(str(folder), name)
        os.chmod(secret, 0o600)
        paths[f"{name}_public"] = Path(public)
        paths[f"{name}_secret"] = Path(secret)
    client_public = paths[f"{CLIENT_KEY_NAME}_public"]
    (authorized / client_public.name).write_bytes(client_public.read_bytes())
    paths["authorized_dir"] = authorized
    return paths


def load_key_pair(path: str | os.PathLike) -> tuple[bytes, bytes]:
    """(public, secret) from a ``*.key_secret`` certificate file; ConfigError naming the file otherwise."""
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the CURVE key {path}: {exc}") from None
    if secret is None:
        raise ConfigError(f"{path} holds no secret key: give the *.key_secret file, not the public *.key")
    return public, secret


def start_curve(context: zmq.Context, sock: zmq.Socket, config: ServerConfig):
    """Make ``sock`` a CURVE server; start a ZAP authenticator trusting the keys in the authorised folder.

    Returns the authenticator (stop it on shutdown) or None when CURVE is off.
    """
    if not config.curve_enabled:
        return None
    from zmq.auth.thread import ThreadAuthenticator

    public, secret = load_key_pair(config.curve_secret_key)
    authenticator = ThreadAuthenticator(context, log=logging.getLogger("e2fgvi.server.auth"))
    authenticator.start()
    if config.curve_authorized_dir:
        if not Path(config.curve_authorized_dir).is_dir():
            authenticator.stop()
            raise ConfigError(f"curve_authorized_dir {config.curve_authorized_dir} is not a folder")
        authenticator.configure_curve(domain="*", location=str(config.curve_authorized_dir))
    else:
        authenticator.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
        log.warning(
            'event=curve_any_client detail="CURVE on without an authorised-keys folder: traffic is '
            'encrypted but any client key is accepted"'
        )
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    return authenticator


def confine_output(pattern: str, roots: tuple[str, ...] | None) -> str:
    """The absolute output ``pattern`` with its folder's links resolved, or OutputError saying what to change.

    ``roots`` None (a private server without ``--output-root``): anywhere this user may write; the folder is
    resolved (``..`` and links) and must be writable, so a bad path is refused at submit, not mid-job. With roots:
    ``..`` components are refused outright (they say nothing good about a request), then the deepest existing folder
    of the pattern is resolved with symlinks followed, so a link pointing out of a root is caught too. Either way
    an existing target must be a plain file; the writer later reaches the folder without following any link and
    never replaces an input frame (``e2fgvi_core.io.writer``).
    """
    if not isinstance(pattern, str) or not pattern:
        raise OutputError("output pattern must be a non-empty path")
    if "\x00" in pattern:
        raise OutputError("output path contains a NUL byte; give a plain absolute path")
    if roots is not None and ".." in Path(pattern).parts:
        raise OutputError(
            f"output path {pattern} contains '..'; give a path inside one of: {_listed_roots(roots)} "
            f"(the server's {ROOTS_SETTING})"
        )
    path = Path(pattern).expanduser()
    if not path.is_absolute():
        raise OutputError(f"output path {pattern} must be absolute (the server's working folder is not yours)")
    folder = path.parent.resolve(strict=False)
    target = folder / path.name
    if roots is None:
        _check_writable(pattern, folder)
    elif not any(_inside(folder, root) for root in roots):
        raise OutputError(
            f"output path {pattern} is outside the allowed roots (after resolving links: {folder}); "
            f"allowed roots: {_listed_roots(roots)}; to allow it, add its folder with the server's {ROOTS_SETTING}"
        )
    if target.is_symlink() or target.exists() and not target.is_file():
        raise OutputError(f"output path {pattern} exists and is not a plain file; choose another output name")
    return str(target)


def _inside(folder: Path, root: str) -> bool:
    real_root = Path(root).expanduser().resolve(strict=False)
    return folder == real_root or real_root in folder.parents


def _listed_roots(roots: tuple[str, ...]) -> str:
    return ", ".join(roots) if roots else "none (a server others can reach writes nowhere until given roots)"


def _check_writable(pattern: str, folder: Path) -> None:
    """The deepest existing folder above the output must be a folder this user may write (missing ones are made)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(
            f"output path {pattern}: the server's user cannot write in {existing}; choose a folder you can write "
            "(the server writes with the permissions of the user who started it)"
        )


def load_or_create_token(config: ServerConfig) -> str:
    """The shutdown token: from the config, else from ``token_file``, else new (written to ``token_file``, 0600)."""
    if config.token:
        return config.token
    if config.token_file and Path(config.token_file).is_file():
        token = Path(config.token_file).read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(24)
    if config.token_file:
        write_text_atomic(config.token_file, token + "\n")  # its temp file is made 0600 (mkstemp), kept by the rename
    return token


def load_or_create_access_key(config: ServerConfig) -> str | None:
    """The key every client must send (None with ``open_access``, or with CURVE, whose keys authenticate clients).

    Why a file and not a socket permission: a loopback TCP port is open to every local user. The key is made at the
    first start, written 0600 in the server user's config folder (``protocol.default_access_key_file``), and read
    from there by our client; another user cannot read it, so cannot use the server. Created with a hard link, so
    two servers starting at once agree on one key.
    """
    if config.open_access or config.curve_enabled:
        return None
    path = Path(config.access_key_file or wire.default_access_key_file())
    existing = wire.read_access_key(str(path))
    if existing:
        _check_private(path)
        return existing
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another server made it first: use that one
    finally:
        tmp.unlink(missing_ok=True)
    key = wire.read_access_key(str(path))
    if not key:
        raise ConfigError(f"cannot read the access key {path} just written")
    return key


def _check_private(path: Path) -> None:
    info = path.stat()
    if info.st_mode & 0o077:
        raise ConfigError(
            f"access key {path} is readable by other users (mode {oct(info.st_mode & 0o777)}): "
            f"chmod 600 {path}, or delete it to make a new one"
        )


def prepare_private_temp_root(config: ServerConfig) -> None:
    """Make this user's temp root (0700) when it is one of the roots, or refuse one that is not ours and private."""
    path = wire.private_temp_root()
    if path not in config.output_roots:
        return
    try:
        wire.ensure_private_folder(path)
    except ConfigError as exc:
        raise ConfigError(f"output root {exc}, or leave it out of {ROOTS_SETTING}") from None
