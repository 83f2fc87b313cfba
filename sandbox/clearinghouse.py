"""The sandbox clearinghouse in one object: the SFTP server with the adjudicator on its upload
hook. This is what `rcm sandbox start`, the demo and the end-to-end tests run in-process.

    with SandboxClearinghouse(root, config_dir, seed=7) as ch:
        profile = load_profile("sandbox").model_copy(update=ch.profile_overrides)
        ...  # the platform uploads 837s and 270s; 999, 277CA and 271 answers appear
        ch.run_cycle()  # 835s for what was accepted
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sandbox.accounts import SandboxAccount, demo_account
from sandbox.adjudicator import Adjudicator, Clock
from sandbox.sftp_server import SandboxSftpServer
from sandbox.state import in_memory

HOST_KEY_NAME = "host_key"


class SandboxClearinghouse:
    """SFTP server + adjudicator over one sandbox root.

    `root` holds the accounts' folders, the roster (roster.csv or roster.yaml), the host key
    (`.sandbox/host_key`) and the state (`.sandbox/state.json`); `config_dir` is the platform's
    config folder (payers.yaml, sandbox/payer_rules.yaml, sandbox/fee_schedule.csv)."""

    def __init__(
        self,
        root: Path | str,
        config_dir: Path | str,
        seed: int = 0,
        *,
        accounts: Iterable[SandboxAccount] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        host_key_path: Path | str | None = None,
        clock: Clock | None = None,
        state_in_memory: bool = False,
    ) -> None:
        """`state_in_memory`: keep the sandbox's state in memory while it runs and write it
        on stop, instead of after every upload (for one process that owns the sandbox at
        scale: the benchmarks)."""
        self.root = Path(root)
        self._state_in_memory = state_in_memory
        self._held_state: ExitStack | None = None
        self.root.mkdir(parents=True, exist_ok=True)
        self.adjudicator = Adjudicator(self.root, config_dir, seed, clock=clock)
        self.accounts = list(accounts) if accounts is not None else [demo_account()]
        self.server = SandboxSftpServer(
            self.root,
            self.accounts,
            Path(host_key_path) if host_key_path else self.root / ".sandbox" / HOST_KEY_NAME,
            port,
            host=host,
            on_upload=self._on_upload,
        )

    def _on_upload(self, account: str, path: Path) -> None:
        self.adjudicator.handle_upload(account, path)

    def start(self) -> SandboxClearinghouse:
        if self._state_in_memory and self._held_state is None:
            self._held_state = ExitStack()
            self.adjudicator.state = self._held_state.enter_context(in_memory(self.root))
        self.server.start()
        return self

    def stop(self) -> None:
        try:
            self.server.stop()
        finally:
            if self._held_state is not None:
                self._held_state.close()
                self._held_state = None

    def __enter__(self) -> SandboxClearinghouse:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def run_cycle(self, now: datetime | None = None) -> list[Path]:
        """Adjudicate what the last uploads left pending; the 835s written."""
        self.wait_for_uploads()
        return self.adjudicator.run_cycle(now)

    def wait_for_uploads(self, timeout: float = 30.0) -> bool:
        """Block until every upload received so far has been answered."""
        return self.server.wait_for_hooks(timeout)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def profile_overrides(self) -> dict[str, Any]:
        """Fields of config/clearinghouses/sandbox.yaml that point at this running instance:
        `profile.model_copy(update=ch.profile_overrides)`."""
        return {
            "host": self.server.host,
            "port": self.server.port,
            "host_key": self.server.host_public_key_line,
        }


__all__ = ["SandboxClearinghouse"]
