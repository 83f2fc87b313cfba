"""The sandbox clearinghouse's SFTP server (paramiko's server interface), on a loopback port.

Each account gets a folder tree under `root`::

    <root>/<account>/outbound          what practices upload (837s)
    <root>/<account>/inbound/999       acknowledgments
    <root>/<account>/inbound/277       277CA (named *277CA*) and 277 claim status
    <root>/<account>/inbound/835       remittance advice
    <root>/<account>/inbound/271       eligibility responses

The host key is generated once (Ed25519) and kept at `host_key_path`; its public line is written
next to it (`<host_key_path>.pub`), which config/clearinghouses/sandbox.yaml pins.

`on_upload(account, local_path)` is called (on a worker thread, one call at a time) when a file
gets its final name in an account's outbound folder: after the client's rename, never for a
temporary name. The adjudicator plugs in there. `faults` lets tests break things on purpose.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import logging
import os
import posixpath
import queue
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)
from paramiko.sftp import SFTP_CONNECTION_LOST, SFTP_FAILURE, SFTP_OK, SFTP_PERMISSION_DENIED
from typing_extensions import Buffer

from rcm.logging import logger
from sandbox.accounts import SandboxAccount


class _ClientHangups(logging.Filter):
    """A client closing its socket at the end of a session is how SFTP sessions end, not a
    server error: paramiko's transport thread reports it at ERROR, we keep it out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            message.startswith("Socket exception:")
            and ("Connection reset by peer" in message or "Broken pipe" in message)
        )


logging.getLogger("rcm.sandbox.sftp").addFilter(_ClientHangups())

ACCOUNT_FOLDERS = ("outbound", "inbound/999", "inbound/277", "inbound/835", "inbound/271")
UPLOAD_FOLDER = "outbound"
_TEMP_SUFFIXES = (".part", ".tmp", ".filepart")

UploadHook = Callable[[str, Path], object]


def is_temporary_name(name: str) -> bool:
    """Names clients upload to before renaming: hidden or with a partial-file suffix."""
    return name.startswith(".") or name.endswith(_TEMP_SUFFIXES)


@dataclass
class SandboxFaults:
    """Faults a test turns on. `drop_after_bytes` fires once, then resets itself."""

    drop_after_bytes: int | None = None
    stall_seconds: float = 0.0
    disk_full: bool = False
    refuse_auth: bool = False

    def clear(self) -> None:
        self.drop_after_bytes = None
        self.stall_seconds = 0.0
        self.disk_full = False
        self.refuse_auth = False


def load_or_create_host_key(path: Path) -> paramiko.PKey:
    """The server's private host key, generated on first use and kept; `.pub` is (re)written."""
    path = Path(path)
    if path.exists():
        key: paramiko.PKey
        try:
            key = paramiko.Ed25519Key(filename=str(path))
        except paramiko.SSHException:
            key = paramiko.RSAKey(filename=str(path))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        temp = path.with_name(f".{path.name}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private)
        os.replace(temp, path)
        key = paramiko.Ed25519Key(filename=str(path))
    public_path = public_key_path(path)
    line = f"{key.get_name()} {key.get_base64()} rcm-sandbox\n"
    if not public_path.exists() or public_path.read_text(encoding="utf-8") != line:
        public_path.write_text(line, encoding="utf-8")
    return key


def public_key_path(host_key_path: Path) -> Path:
    return Path(f"{host_key_path}.pub")


class SandboxSftpServer:
    """A threaded SFTP server for the sandbox and tests. Use as a context manager or start/stop."""

    def __init__(
        self,
        root: Path | str,
        accounts: Iterable[SandboxAccount],
        host_key_path: Path | str,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        on_upload: UploadHook | None = None,
    ) -> None:
        self.root = Path(root)
        self.accounts = {account.username: account for account in accounts}
        self.host_key_path = Path(host_key_path)
        self.host = host
        self.on_upload = on_upload
        self.faults = SandboxFaults()
        self.auth_attempts = 0
        self._requested_port = port
        self._port: int | None = None
        self._host_key: paramiko.PKey | None = None
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._transports: set[paramiko.Transport] = set()
        self._threads: list[threading.Thread] = []
        self._hooks: queue.Queue[tuple[str, Path] | None] = queue.Queue()
        self._hooks_pending = 0
        self._hooks_idle = threading.Condition(self._lock)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the sandbox SFTP server is not started")
        return self._port

    @property
    def host_key(self) -> paramiko.PKey:
        if self._host_key is None:
            self._host_key = load_or_create_host_key(self.host_key_path)
        return self._host_key

    @property
    def host_public_key_path(self) -> Path:
        return public_key_path(self.host_key_path)

    @property
    def host_public_key_line(self) -> str:
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"

    @property
    def host_key_fingerprint(self) -> str:
        """OpenSSH-style ``SHA256:`` fingerprint, for operators to compare out of band."""
        digest = hashlib.sha256(self.host_key.asbytes()).digest()
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")

    def account_root(self, account: str) -> Path:
        return self.root / account

    def ensure_folders(self) -> None:
        for account in self.accounts:
            for folder in ACCOUNT_FOLDERS:
                (self.account_root(account) / folder).mkdir(parents=True, exist_ok=True)

    def start(self) -> SandboxSftpServer:
        if self._listener is not None:
            return self
        self.ensure_folders()
        _ = self.host_key
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self._requested_port))
        listener.listen(16)
        listener.settimeout(0.2)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._stopping.clear()
        self._spawn(self._accept_loop, "sandbox-sftp-accept")
        self._spawn(self._hook_loop, "sandbox-sftp-hooks")
        logger.info("sandbox sftp listening", host=self.host, port=self._port)
        return self

    def stop(self) -> None:
        if self._listener is None:
            return
        self._stopping.set()
        self._hooks.put(None)
        with self._lock:
            transports = list(self._transports)
            self._transports.clear()
        for transport in transports:
            transport.close()
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=5)
        self._listener.close()
        self._listener = None
        logger.info("sandbox sftp stopped", port=self._port)

    def __enter__(self) -> SandboxSftpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for_hooks(self, timeout: float = 10.0) -> bool:
        """Block until every queued on_upload call has run. False on timeout."""
        with self._hooks_idle:
            return self._hooks_idle.wait_for(lambda: self._hooks_pending == 0, timeout=timeout)

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        with self._lock:
            # A long-running sandbox serves many connections; forget the finished ones.
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, "sandbox-sftp-conn", conn)

    def _serve(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.set_log_channel("rcm.sandbox.sftp")
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _AccountSftp)
        with self._lock:
            if self._stopping.is_set():
                transport.close()
                return
            self._transports = {t for t in self._transports if t.is_active()}
            self._transports.add(transport)
        try:
            transport.start_server(server=_Login(self, transport))
        except (paramiko.SSHException, EOFError, OSError):
            transport.close()
            with self._lock:
                self._transports.discard(transport)

    # -- hooks -------------------------------------------------------------------------------

    def _uploaded(self, account: str, path: Path) -> None:
        if self.on_upload is None:
            return
        with self._lock:
            self._hooks_pending += 1
        self._hooks.put((account, path))

    def _hook_loop(self) -> None:
        while True:
            item = self._hooks.get()
            if item is None:
                return
            account, path = item
            hook = self.on_upload
            try:
                if hook is not None:
                    hook(account, path)
            except Exception:
                logger.exception("sandbox on_upload hook failed", account=account, file=path.name)
            finally:
                with self._hooks_idle:
                    self._hooks_pending -= 1
                    self._hooks_idle.notify_all()

    def _stall(self) -> None:
        if self.faults.stall_seconds > 0:
            self._stopping.wait(self.faults.stall_seconds)


class _Login(paramiko.ServerInterface):
    """Authentication against the sandbox's accounts; remembers who logged in."""

    def __init__(self, sandbox: SandboxSftpServer, transport: paramiko.Transport) -> None:
        self.sandbox = sandbox
        self.transport = transport
        self.account: str | None = None

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def _attempt(self, username: str) -> SandboxAccount | None:
        self.sandbox.auth_attempts += 1
        if self.sandbox.faults.refuse_auth:
            return None
        return self.sandbox.accounts.get(username)

    def check_auth_password(self, username: str, password: str) -> int:
        account = self._attempt(username)
        if account is None or account.password is None:
            return AUTH_FAILED
        if not hmac.compare_digest(account.password.encode(), password.encode()):
            return AUTH_FAILED
        self.account = username
        return AUTH_SUCCESSFUL

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        account = self._attempt(username)
        if account is None:
            return AUTH_FAILED
        offered = (key.get_name(), key.get_base64())
        if any(tuple(line.split()[:2]) == offered for line in account.authorized_keys):
            self.account = username
            return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


def _status(exc: OSError) -> int:
    return paramiko.SFTPServer.convert_errno(exc.errno or errno.EIO)


class _Handle(paramiko.SFTPHandle):
    def __init__(
        self, sftp: _AccountSftp, path: Path, file: IO[bytes], flags: int, writable: bool
    ) -> None:
        super().__init__(flags)
        self.sftp = sftp
        self.path = path
        self.file = file
        self.readfile = file
        self.written = False
        if writable:
            self.writefile = file

    def read(self, offset: int, length: int) -> bytes | int:
        self.sftp.sandbox._stall()
        try:
            self.file.seek(offset)
            return self.file.read(length)
        except OSError as exc:
            return _status(exc)

    def write(self, offset: int, data: Buffer) -> int:
        data = bytes(data)
        sandbox = self.sftp.sandbox
        sandbox._stall()
        if not hasattr(self, "writefile"):
            return SFTP_PERMISSION_DENIED
        if sandbox.faults.disk_full:
            return SFTP_FAILURE
        limit = sandbox.faults.drop_after_bytes
        if limit is not None and offset + len(data) > limit:
            sandbox.faults.drop_after_bytes = None
            keep = max(0, limit - offset)
            self.file.seek(offset)
            self.file.write(data[:keep])
            self.file.flush()
            self.sftp.drop_connection()
            return SFTP_CONNECTION_LOST
        try:
            self.file.seek(offset)
            self.file.write(data)
            self.file.flush()
        except OSError as exc:
            return _status(exc)
        self.written = True
        return SFTP_OK

    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.file.fileno()))
        except OSError as exc:
            return _status(exc)

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK

    def close(self) -> None:
        self.file.close()
        if self.written:
            self.sftp.arrived(self.path)


class _AccountSftp(paramiko.SFTPServerInterface):
    """One logged-in account's view: its folder tree is '/', nothing outside it is reachable."""

    def __init__(self, server: _Login, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.login = server
        self.sandbox = server.sandbox
        if server.account is None:
            raise paramiko.SSHException("sftp subsystem requested before authentication")
        self.account = server.account
        self.home = self.sandbox.account_root(self.account).resolve()

    def drop_connection(self) -> None:
        logger.info("sandbox fault: dropping connection mid-upload", account=self.account)
        sock = self.login.transport.sock
        try:
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.login.transport.close()

    def canonicalize(self, path: str) -> str:
        return posixpath.normpath("/" + path) if path not in ("", ".") else "/"

    def _local(self, path: str) -> Path:
        local = (self.home / self.canonicalize(path).lstrip("/")).resolve()
        if local != self.home and self.home not in local.parents:
            raise PermissionError(errno.EACCES, "outside the account")
        return local

    def _remote(self, local: Path) -> str:
        return "/" + local.relative_to(self.home).as_posix()

    def arrived(self, local: Path) -> None:
        """A file has its final name: tell the hook if it is an upload."""
        if is_temporary_name(local.name) or not local.is_file():
            return
        if local.parent == self.home / UPLOAD_FOLDER:
            logger.info("sandbox received upload", account=self.account, file=local.name)
            self.sandbox._uploaded(self.account, local)

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        self.sandbox._stall()
        try:
            folder = self._local(path)
            entries = []
            for name in sorted(os.listdir(folder)):
                attrs = paramiko.SFTPAttributes.from_stat(os.stat(folder / name), name)
                entries.append(attrs)
            return entries
        except OSError as exc:
            return _status(exc)

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        self.sandbox._stall()
        try:
            local = self._local(path)
            return paramiko.SFTPAttributes.from_stat(os.stat(local), local.name)
        except OSError as exc:
            return _status(exc)

    lstat = stat

    def open(
        self, path: str, flags: int, attr: paramiko.SFTPAttributes
    ) -> paramiko.SFTPHandle | int:
        self.sandbox._stall()
        try:
            local = self._local(path)
            mode = getattr(attr, "st_mode", None) or 0o644
            fd = os.open(local, flags | getattr(os, "O_BINARY", 0), mode & 0o777)
        except OSError as exc:
            return _status(exc)
        writable = bool(flags & (os.O_WRONLY | os.O_RDWR))
        if flags & os.O_WRONLY:
            file_mode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            file_mode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            file_mode = "rb"
        return _Handle(self, local, os.fdopen(fd, file_mode), flags, writable)

    def remove(self, path: str) -> int:
        self.sandbox._stall()
        try:
            os.remove(self._local(path))
        except OSError as exc:
            return _status(exc)
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        """SFTP v3 rename: refuses to replace an existing file, like OpenSSH."""
        self.sandbox._stall()
        try:
            source, target = self._local(oldpath), self._local(newpath)
            if target.exists():
                return SFTP_FAILURE
            os.rename(source, target)
        except OSError as exc:
            return _status(exc)
        self.arrived(target)
        return SFTP_OK

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        self.sandbox._stall()
        try:
            target = self._local(newpath)
            os.replace(self._local(oldpath), target)
        except OSError as exc:
            return _status(exc)
        self.arrived(target)
        return SFTP_OK

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        try:
            os.mkdir(self._local(path))
        except OSError as exc:
            return _status(exc)
        return SFTP_OK

    def rmdir(self, path: str) -> int:
        try:
            local = self._local(path)
            if local == self.home:
                return SFTP_PERMISSION_DENIED
            os.rmdir(local)
        except OSError as exc:
            return _status(exc)
        return SFTP_OK

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK


__all__ = [
    "ACCOUNT_FOLDERS",
    "UPLOAD_FOLDER",
    "SandboxFaults",
    "SandboxSftpServer",
    "UploadHook",
    "is_temporary_name",
    "load_or_create_host_key",
    "public_key_path",
]
