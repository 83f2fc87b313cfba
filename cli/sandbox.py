"""`rcm sandbox`: run the clearinghouse simulator's SFTP server in the foreground."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cli.output import console, fail
from rcm.errors import ConfigError

if TYPE_CHECKING:
    from sandbox.accounts import SandboxAccount
    from sandbox.clearinghouse import SandboxClearinghouse

app = typer.Typer(
    name="sandbox",
    help="The sandbox clearinghouse: an SFTP server on this machine for demos and dry runs.",
    no_args_is_help=True,
)


_stop = threading.Event()


@app.callback()
def _group() -> None:
    """The sandbox clearinghouse: an SFTP server on this machine for demos and dry runs."""


def request_stop() -> None:
    """Stop a running `rcm sandbox start` (what SIGTERM does; tests call it)."""
    _stop.set()


def sandbox_home() -> Path:
    from rcm.settings import get_settings

    return Path(get_settings().var_dir) / "sandbox"


def _clearinghouse(
    root: Path, accounts: list[SandboxAccount], host_key: Path, host: str, port: int, seed: int
) -> SandboxClearinghouse | None:
    """The SFTP server with the adjudicator on its upload hook, or None (with a note) when the
    adjudicator cannot be set up (e.g. no payer rules in the config folder)."""
    try:
        from rcm.settings import get_settings
        from sandbox.clearinghouse import SandboxClearinghouse

        return SandboxClearinghouse(
            root,
            get_settings().config_dir,
            seed,
            accounts=accounts,
            host=host,
            port=port,
            host_key_path=host_key,
        )
    except Exception as exc:
        console.print(
            f"[yellow]note:[/yellow] uploads will not be answered: adjudicator unavailable ({exc})",
            highlight=False,
        )
        return None


@app.command("start")
def start(
    port: int | None = typer.Option(
        None, "--port", help="Port on 127.0.0.1 (default: the sandbox profile's; 0 = any free)."
    ),
    root: Path | None = typer.Option(
        None,
        "--root",
        help="Folder holding one folder tree per account (default var/sandbox/sftp).",
    ),
    adjudicate: bool = typer.Option(
        True, "--adjudicate/--no-adjudicate", help="Answer uploads with the sandbox adjudicator."
    ),
    cycle_seconds: float = typer.Option(
        0, "--cycle-seconds", help="Run a payment cycle (835s) this often; 0 = never.", min=0
    ),
    seed: int = typer.Option(0, "--seed", help="Same seed, same adjudication."),
) -> None:
    """Serve SFTP until Ctrl-C, printing where and how to connect."""
    from connectors.clearinghouse import load_profile
    from sandbox.accounts import DEMO_PASSWORD_DEFAULT, DEMO_PASSWORD_ENV, demo_account
    from sandbox.sftp_server import ACCOUNT_FOLDERS, SandboxSftpServer

    try:
        profile = load_profile("sandbox")
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    home = sandbox_home()
    sftp_root = root or home / "sftp"
    listen_port = profile.port if port is None else port
    accounts = [demo_account(profile.username)]
    host_key = home / "ssh_host_ed25519_key"
    clearinghouse = (
        _clearinghouse(sftp_root, accounts, host_key, profile.host, listen_port, seed)
        if adjudicate
        else None
    )
    server = (
        clearinghouse.server
        if clearinghouse is not None
        else SandboxSftpServer(sftp_root, accounts, host_key, port=listen_port, host=profile.host)
    )
    try:
        server.start()
    except OSError as exc:
        raise fail(f"cannot listen on {profile.host}:{listen_port}: {exc.strerror}") from exc

    def show(label: str, value: object) -> None:
        console.print(f"  {label:<15} {value}", highlight=False)

    console.print(f"[bold]Sandbox SFTP server[/bold] {server.host}:{server.port}", highlight=False)
    show("username", profile.username)
    show(
        "password",
        f"from {DEMO_PASSWORD_ENV} (demo default {DEMO_PASSWORD_DEFAULT!r}); the sandbox "
        "profile reads the same variable",
    )
    show("root", server.root)
    show("folders", ", ".join(ACCOUNT_FOLDERS))
    show("host key", server.host_key_fingerprint)
    show("host key file", server.host_public_key_path)
    show("adjudicator", "on" if clearinghouse is not None else "off")
    if clearinghouse is not None and cycle_seconds:
        show("payment cycle", f"every {cycle_seconds:g}s")
    if server.port != profile.port:
        console.print(
            f"[yellow]note:[/yellow] the sandbox profile expects port {profile.port}; "
            "`rcm clearinghouse check sandbox` will not find this server.",
            highlight=False,
        )
    console.print("Ctrl-C to stop.")

    _stop.clear()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: _stop.set()) if in_main_thread else None
    next_cycle = time.monotonic() + cycle_seconds
    try:
        while not _stop.wait(0.5):
            if clearinghouse is not None and cycle_seconds and time.monotonic() >= next_cycle:
                written = clearinghouse.run_cycle()
                console.print(f"payment cycle: {len(written)} file(s) written", highlight=False)
                next_cycle = time.monotonic() + cycle_seconds
    except KeyboardInterrupt:
        pass
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        server.stop()
        console.print("sandbox stopped")


@app.command("cycle")
def cycle(
    root: Path | None = typer.Option(
        None, "--root", help="The running sandbox's account folders (default var/sandbox/sftp)."
    ),
    seed: int = typer.Option(0, "--seed", help="The seed the sandbox was started with."),
) -> None:
    """Adjudicate what was accepted since the last cycle and write the 835s (safe to run beside
    a running `rcm sandbox start`: the sandbox's state is file-locked)."""
    from rcm.settings import get_settings
    from sandbox.adjudicator import Adjudicator

    sftp_root = root or sandbox_home() / "sftp"
    written = Adjudicator(sftp_root, get_settings().config_dir, seed).run_cycle()
    for path in written:
        console.print(f"  {path.relative_to(sftp_root)}", highlight=False)
    console.print(f"{len(written)} remittance file(s) written", highlight=False)
