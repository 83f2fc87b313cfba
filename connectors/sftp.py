"""SFTP to a clearinghouse (paramiko), one connection per batch of operations.

    with SftpSession(profile) as sftp:
        for remote in sftp.list_files("inbound/835"):
            data = sftp.download(remote.path)
        sftp.upload(profile.upload_folder, "acme_837P_000000123_20260101120000.x12", payload)

The server's host key is checked against the profile's pin before any credential is sent; an
unpinned or different key is refused (HostKeyError), never learned. Uploads go to a temporary name,
are size-checked, then renamed, so a clearinghouse never picks up half a file, and a retried upload
of the same name lands exactly once. Every library error leaves as a TransientConnectorError
(retry) or a PermanentConnectorError (fix something first).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import paramiko
from paramiko.ssh_exception import IncompatiblePeer

from connectors.clearinghouse import ClearinghouseProfile, SecretKind, normalize_folder
from connectors.errors import ConnectorError, PermanentConnectorError, TransientConnectorError
from connectors.secrets import resolve_secret
from rcm.logging import logger


class HostKeyError(PermanentConnectorError):
    """The server's host key is not the pinned one, or no key is pinned."""


class AuthenticationRefused(PermanentConnectorError):
    """The server refused our credentials (or our credentials cannot be loaded)."""


class RemotePathError(PermanentConnectorError):
    """A remote path that is unsafe, outside the account's folders, or absent."""


@dataclass(frozen=True)
class RemoteFile:
    """A regular file in a remote folder. `path` is what download/move/remove take."""

    name: str
    size: int
    mtime: datetime
    path: str


@dataclass(frozen=True)
class CheckStep:
    """One line of a connection check: what was tried, whether it worked, and the detail."""

    step: str
    ok: bool
    detail: str


_RSA_ALGORITHMS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
_CHUNK = 32768


def key_fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint (``SHA256:base64-without-padding``)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def public_key_line(key: paramiko.PKey, comment: str = "") -> str:
    """The OpenSSH one-line form of a public key."""
    line = f"{key.get_name()} {key.get_base64()}"
    return f"{line} {comment}".rstrip()


@dataclass(frozen=True)
class _Pin:
    fingerprint: str
    key_type: str | None
    source: str


def _expand_path(raw: str) -> Path:
    from rcm.settings import get_settings

    settings = get_settings()
    text = raw.replace("{var_dir}", str(settings.var_dir)).replace(
        "{config_dir}", str(settings.config_dir)
    )
    return Path(os.path.expandvars(text)).expanduser()


def _pin_from_line(line: str, source: str) -> _Pin | None:
    """A pin from an OpenSSH public key line (also tolerates a known_hosts host prefix)."""
    parts = line.split()
    for index, token in enumerate(parts[:-1]):
        if token.startswith(("ssh-", "ecdsa-", "sk-")):
            try:
                blob = base64.b64decode(parts[index + 1], validate=True)
            except ValueError:
                return None
            digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
            return _Pin(f"SHA256:{digest}", token, source)
    return None


def load_host_key_pins(profile: ClearinghouseProfile) -> list[_Pin]:
    """The pinned host keys of a profile. HostKeyError when none can be read."""
    pins: list[_Pin] = []
    for raw in profile.host_key_pins:
        raw = raw.strip()
        if raw.startswith("SHA256:"):
            pins.append(_Pin(raw.rstrip("="), None, "profile fingerprint"))
        elif raw.startswith("file:"):
            path = _expand_path(raw[len("file:") :])
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise HostKeyError(
                    f"clearinghouse {profile.name}: pinned host key file {path} cannot be read "
                    f"({exc.strerror}); refusing to connect to an unknown host"
                ) from exc
            found = [
                pin
                for line in lines
                # '@revoked' and '@cert-authority' known_hosts lines must never become pins.
                if line.strip() and not line.lstrip().startswith(("#", "@"))
                if (pin := _pin_from_line(line, str(path))) is not None
            ]
            if not found:
                raise HostKeyError(
                    f"clearinghouse {profile.name}: host key file {path} holds no public key"
                )
            pins.extend(found)
        elif (pin := _pin_from_line(raw, "profile key")) is not None:
            pins.append(pin)
        else:
            raise HostKeyError(
                f"clearinghouse {profile.name}: host_key is not a key, fingerprint or file"
            )
    if not pins:
        raise HostKeyError(
            f"clearinghouse {profile.name}: no host key pinned; refusing to connect to an unknown "
            "host (get the key from the clearinghouse out of band and set host_key)"
        )
    return pins


def _allowed_key_types(pins: list[_Pin]) -> list[str] | None:
    """Host key algorithms to offer, so a server with several keys shows us the pinned one."""
    if any(pin.key_type is None for pin in pins):
        return None
    types: list[str] = []
    for pin in pins:
        assert pin.key_type is not None
        types.extend(_RSA_ALGORITHMS if pin.key_type == "ssh-rsa" else (pin.key_type,))
    return list(dict.fromkeys(types))


def _load_private_key(text: str, passphrase: str | None, ref: str) -> paramiko.PKey:
    key_classes: tuple[type[paramiko.PKey], ...] = (
        paramiko.Ed25519Key,
        paramiko.ECDSAKey,
        paramiko.RSAKey,
    )
    for key_class in key_classes:
        try:
            return key_class.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.PasswordRequiredException as exc:
            raise AuthenticationRefused(
                f"private key {ref!r} is encrypted and no passphrase_ref is set"
            ) from exc
        except (paramiko.SSHException, ValueError):
            continue
    raise AuthenticationRefused(f"private key {ref!r} cannot be read as Ed25519, ECDSA or RSA")


def _remote_join(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder.rstrip('/')}/{name}"


def check_remote_name(name: str) -> str:
    """A bare file name: no separators, no '..', no control characters."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or len(name) > 255
    ):
        raise RemotePathError(f"unsafe remote file name {name!r}")
    return name


class SftpSession:
    """A connection to one clearinghouse account, opened on first use and reused.

    `secret` overrides the profile's secret reference with a value (tests, one-off checks).
    Not thread-safe: one session per task.
    """

    def __init__(
        self,
        profile: ClearinghouseProfile,
        *,
        secret: str | None = None,
        passphrase: str | None = None,
    ) -> None:
        self.profile = profile
        self._secret = secret
        self._passphrase = passphrase
        self._transport: paramiko.Transport | None = None
        self._client: paramiko.SFTPClient | None = None
        self._last_used = 0.0
        self.server_fingerprint: str | None = None
        self._log = logger.bind(clearinghouse=profile.name)

    # -- connection -------------------------------------------------------------------------

    def __enter__(self) -> SftpSession:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"clearinghouse {self.profile.name} ({self.profile.host}:{self.profile.port})"

    def connect(self) -> None:
        """Open the connection now: TCP, host key check, authentication, SFTP channel."""
        self.close()
        pins = load_host_key_pins(self.profile)
        credentials = self._credentials()
        with self._translate("connect"):
            transport = self._open_transport(pins)
            try:
                self._verify_host_key(transport, pins)
                self._authenticate(transport, credentials)
                transport.set_keepalive(self.profile.keepalive_seconds)
                client = paramiko.SFTPClient.from_transport(transport)
                if client is None:
                    raise TransientConnectorError(
                        f"{self.where}: the server refused an SFTP channel"
                    )
                channel = client.get_channel()
                if channel is not None:
                    channel.settimeout(self.profile.read_timeout)
            except BaseException:
                transport.close()
                raise
        self._transport, self._client = transport, client
        self._last_used = time.monotonic()
        self._log.info("sftp connected")

    def close(self) -> None:
        client, transport = self._client, self._transport
        self._client = self._transport = None
        if client is not None:
            with suppress(Exception):
                client.close()
        if transport is not None:
            with suppress(Exception):
                transport.close()

    @property
    def connected(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    def _credentials(self) -> tuple[str, str | paramiko.PKey]:
        profile = self.profile
        value = self._secret if self._secret is not None else resolve_secret(profile.secret_ref)
        if profile.secret_kind is SecretKind.PASSWORD:
            return ("password", value)
        passphrase = self._passphrase
        if passphrase is None and profile.passphrase_ref:
            passphrase = resolve_secret(profile.passphrase_ref).strip()
        return ("key", _load_private_key(value, passphrase, profile.secret_ref))

    def _open_transport(self, pins: list[_Pin]) -> paramiko.Transport:
        profile = self.profile
        sock = socket.create_connection(
            (profile.host, profile.port), timeout=profile.connect_timeout
        )
        try:
            transport = paramiko.Transport(sock)
        except BaseException:
            sock.close()
            raise
        transport.banner_timeout = profile.connect_timeout
        transport.handshake_timeout = profile.connect_timeout
        transport.auth_timeout = profile.connect_timeout
        transport.channel_timeout = profile.connect_timeout
        if (allowed := _allowed_key_types(pins)) is not None:
            options = transport.get_security_options()
            offered = [t for t in options.key_types if t in allowed]
            if offered:
                options.key_types = offered
        try:
            transport.start_client(timeout=profile.connect_timeout)
        except BaseException:
            transport.close()
            raise
        return transport

    def _verify_host_key(self, transport: paramiko.Transport, pins: list[_Pin]) -> None:
        server_key = transport.get_remote_server_key()
        fingerprint = key_fingerprint(server_key)
        self.server_fingerprint = fingerprint
        if any(pin.fingerprint == fingerprint for pin in pins):
            return
        self._log.error("sftp host key mismatch", host_key=fingerprint)
        raise HostKeyError(
            f"{self.where}: host key {server_key.get_name()} {fingerprint} does not match the "
            f"pinned key ({', '.join(sorted({p.fingerprint for p in pins}))}); refusing to "
            "connect. "
            "If the clearinghouse announced a new key, verify it out of band and update host_key."
        )

    def _authenticate(
        self, transport: paramiko.Transport, credentials: tuple[str, str | paramiko.PKey]
    ) -> None:
        kind, value = credentials
        username = self.profile.username
        try:
            if isinstance(value, paramiko.PKey):
                transport.auth_publickey(username, value)
            else:
                try:
                    transport.auth_password(username, value)
                except paramiko.BadAuthenticationType as exc:
                    if "keyboard-interactive" not in (exc.allowed_types or []):
                        raise
                    password = value
                    transport.auth_interactive(
                        username, lambda _title, _instr, prompts: [password for _ in prompts]
                    )
        except paramiko.AuthenticationException as exc:
            self._log.error("sftp authentication refused", method=kind)
            raise AuthenticationRefused(
                f"{self.where}: the server refused {kind} authentication for the configured "
                f"username ({type(exc).__name__}); check {self.profile.secret_ref}"
            ) from exc
        if not transport.is_authenticated():
            raise AuthenticationRefused(f"{self.where}: authentication did not complete")

    def _sftp(self) -> paramiko.SFTPClient:
        idle = time.monotonic() - self._last_used
        if self._client is not None and (not self.connected or idle > self.profile.idle_timeout):
            self._log.info("sftp reconnecting", idle_seconds=round(idle, 1))
            self.close()
        if self._client is None:
            self.connect()
        assert self._client is not None
        self._last_used = time.monotonic()
        return self._client

    @contextmanager
    def _translate(self, action: str, path: str | None = None) -> Iterator[None]:
        """Map paramiko, socket and SFTP status errors onto the connector error tree."""
        what = f"{self.where}: {action}" + (f" {path}" if path else "")
        try:
            yield
        except ConnectorError:
            raise
        except paramiko.AuthenticationException as exc:
            raise AuthenticationRefused(f"{what}: authentication refused") from exc
        except IncompatiblePeer as exc:
            raise PermanentConnectorError(f"{what}: no common SSH algorithms ({exc})") from exc
        except (paramiko.SSHException, EOFError) as exc:
            self._broken(action, exc)
            raise TransientConnectorError(
                f"{what}: connection lost ({exc or type(exc).__name__})"
            ) from exc
        except FileNotFoundError as exc:
            raise RemotePathError(f"{what}: no such file or folder") from exc
        except PermissionError as exc:
            raise PermanentConnectorError(f"{what}: permission denied") from exc
        except TimeoutError as exc:
            self._broken(action, exc)
            raise TransientConnectorError(f"{what}: timed out") from exc
        except OSError as exc:
            if exc.errno is None and exc.args:
                # A bare SFTP status (SSH_FX_FAILURE, e.g. a full disk on the server): the server
                # is up and answering, and the same request may succeed later.
                raise TransientConnectorError(
                    f"{what}: the server reported {exc.args[0]!s}"
                ) from exc
            self._broken(action, exc)
            raise TransientConnectorError(
                f"{what}: network error ({exc.strerror or type(exc).__name__})"
            ) from exc

    def _broken(self, action: str, exc: BaseException) -> None:
        self._log.warning("sftp connection dropped", action=action, error=type(exc).__name__)
        self.close()

    # -- paths -----------------------------------------------------------------------------

    def _folder(self, folder: str) -> str:
        normalized = normalize_folder(folder)
        if ".." in normalized.split("/"):
            raise RemotePathError(f"{self.where}: folder {folder!r} escapes the account")
        if normalized not in self.profile.folders:
            raise RemotePathError(
                f"{self.where}: folder {folder!r} is not one of the profile's folders "
                f"({', '.join(self.profile.folders)})"
            )
        return normalized

    def _split(self, path: str) -> tuple[str, str]:
        folder, _, name = path.rpartition("/")
        return self._folder(folder or "."), check_remote_name(name)

    # -- operations ------------------------------------------------------------------------

    def list_files(self, folder: str) -> list[RemoteFile]:
        """Regular files in `folder`, by name; hidden and temporary names are left out."""
        folder = self._folder(folder)
        sftp = self._sftp()
        with self._translate("list", folder):
            entries = sftp.listdir_attr(folder)
        files = []
        for entry in entries:
            name = entry.filename
            if name.startswith(".") or entry.st_mode is None or not stat.S_ISREG(entry.st_mode):
                continue
            files.append(self._remote_file(folder, name, entry))
        return sorted(files, key=lambda f: f.name)

    def stat(self, path: str) -> RemoteFile | None:
        """The file at `path`, or None when there is none."""
        folder, name = self._split(path)
        return self._stat(folder, name)

    def _stat(self, folder: str, name: str) -> RemoteFile | None:
        remote = _remote_join(folder, name)
        sftp = self._sftp()
        try:
            with self._translate("stat", remote):
                attrs = sftp.stat(remote)
        except RemotePathError:
            return None
        return self._remote_file(folder, name, attrs)

    def download(self, path: str, size: int | None = None) -> bytes:
        """The bytes of the remote file at `path` (``folder/name``). `size`, when the caller
        has it from a listing, saves a round trip; a file whose size differs from it (still
        being written) is a TransientConnectorError, as when the stat disagrees."""
        folder, name = self._split(path)
        remote = _remote_join(folder, name)
        sftp = self._sftp()
        with self._translate("download", remote):
            expected = size if size is not None else sftp.stat(remote).st_size
            with sftp.open(remote, "rb") as handle:
                if expected:
                    handle.prefetch(expected)
                data = handle.read()
        if expected is not None and len(data) != expected:
            raise TransientConnectorError(
                f"{self.where}: download {remote}: got {len(data)} of {expected} bytes"
            )
        return data

    def upload(self, folder: str | None, name: str, data: bytes) -> RemoteFile:
        """Put `data` at folder/name through a temporary name; exactly once, however often retried.

        If folder/name already holds these exact bytes the call is a no-op; if it holds other
        bytes, PermanentConnectorError (we never overwrite what a clearinghouse may have taken).
        """
        folder = self._folder(folder or self.profile.upload_folder)
        check_remote_name(name)
        temp_name = check_remote_name(self.profile.temp_name(name))
        final, temp = _remote_join(folder, name), _remote_join(folder, temp_name)

        if (existing := self._same_file_already_there(folder, name, data)) is not None:
            self._log.info("sftp upload already done", path=final, size=len(data))
            return existing

        sftp = self._sftp()
        if self._stat(folder, temp_name) is not None:
            with self._translate("remove stale", temp):
                sftp.remove(temp)
        with self._translate("upload", temp):
            with sftp.open(temp, "wb") as handle:
                handle.set_pipelined(True)
                view = memoryview(data)
                for start in range(0, len(data), _CHUNK):
                    handle.write(view[start : start + _CHUNK].tobytes())
            written = sftp.stat(temp).st_size
        if written != len(data):
            with suppress(ConnectorError), self._translate("remove short", temp):
                sftp.remove(temp)
            raise TransientConnectorError(
                f"{self.where}: upload {final}: the server holds {written} of {len(data)} bytes"
            )
        try:
            with self._translate("rename", final):
                sftp.rename(temp, final)
        except TransientConnectorError:
            # A lost reply to a rename that happened is indistinguishable from a failed rename
            # until we look.
            if (existing := self._same_file_already_there(folder, name, data)) is not None:
                return existing
            raise
        remote = self._stat(folder, name)
        if remote is None:
            raise TransientConnectorError(f"{self.where}: upload {final}: gone after rename")
        self._log.info("sftp uploaded", path=final, size=len(data))
        return remote

    def _same_file_already_there(self, folder: str, name: str, data: bytes) -> RemoteFile | None:
        existing = self._stat(folder, name)
        if existing is None:
            return None
        if existing.size == len(data) and self.download(existing.path) == data:
            return existing
        raise PermanentConnectorError(
            f"{self.where}: {existing.path} already exists with different content; "
            "refusing to overwrite"
        )

    def remove(self, path: str) -> None:
        """Delete a remote file (clearinghouses usually expect us to leave theirs alone)."""
        folder, name = self._split(path)
        remote = _remote_join(folder, name)
        sftp = self._sftp()
        with self._translate("remove", remote):
            sftp.remove(remote)

    def move(self, path: str, folder: str) -> RemoteFile:
        """Move a remote file into another of the profile's folders (e.g. processed_folder)."""
        source_folder, name = self._split(path)
        target_folder = self._folder(folder)
        source, target = _remote_join(source_folder, name), _remote_join(target_folder, name)
        sftp = self._sftp()
        with self._translate("move", source):
            sftp.rename(source, target)
        moved = self._stat(target_folder, name)
        if moved is None:
            raise TransientConnectorError(f"{self.where}: move {source}: target missing")
        return moved

    @staticmethod
    def _remote_file(folder: str, name: str, attrs: paramiko.SFTPAttributes) -> RemoteFile:
        return RemoteFile(
            name=name,
            size=int(attrs.st_size or 0),
            mtime=datetime.fromtimestamp(attrs.st_mtime or 0, tz=UTC),
            path=_remote_join(folder, name),
        )


SftpClient = SftpSession


def check_connection(
    profile: ClearinghouseProfile, *, secret: str | None = None
) -> list[CheckStep]:
    """Try each step of talking to a clearinghouse and report it; never raises ConnectorError.

    Steps: host key pin, credentials, TCP + SSH handshake, host key match, authentication, then
    one listing per folder of the profile. The first failing step ends the check.
    """
    steps: list[CheckStep] = []
    session = SftpSession(profile, secret=secret)
    transport: paramiko.Transport | None = None
    step = "host key pinned"
    try:
        pins = load_host_key_pins(profile)
        steps.append(CheckStep(step, True, ", ".join(sorted({p.fingerprint for p in pins}))))
        step = "credentials"
        credentials = session._credentials()
        steps.append(CheckStep(step, True, f"{credentials[0]} from {profile.secret_ref}"))
        step = "connect"
        with session._translate("connect"):
            transport = session._open_transport(pins)
            steps.append(CheckStep(step, True, f"{profile.host}:{profile.port}"))
            step = "host key matches"
            session._verify_host_key(transport, pins)
            steps.append(CheckStep(step, True, session.server_fingerprint or ""))
            step = "authenticate"
            session._authenticate(transport, credentials)
            steps.append(CheckStep(step, True, f"as {profile.username}"))
        transport.close()
        transport = None
        with session:
            for folder in profile.folders:
                step = f"list {folder}"
                files = session.list_files(folder)
                steps.append(CheckStep(step, True, f"{len(files)} file(s)"))
    except ConnectorError as exc:
        steps.append(CheckStep(step, False, str(exc)))
    finally:
        if transport is not None:
            transport.close()
    return steps


__all__ = [
    "AuthenticationRefused",
    "CheckStep",
    "HostKeyError",
    "RemoteFile",
    "RemotePathError",
    "SftpClient",
    "SftpSession",
    "check_connection",
    "check_remote_name",
    "key_fingerprint",
    "load_host_key_pins",
    "public_key_line",
]
