"""The sandbox's state kept in memory while one process owns it, written on stop."""

from __future__ import annotations

from pathlib import Path

from sandbox.state import SandboxState, in_memory


def test_state_in_memory_is_shared_and_written_once_on_exit(tmp_path: Path) -> None:
    with in_memory(tmp_path) as state:
        state.next_number("isa")
        state.save()
        assert not state.path.exists()  # not written per change
        again = SandboxState.load(tmp_path)
        assert again is state  # every load in the block sees the same state
        again.next_number("isa")
    written = SandboxState.load(tmp_path)
    assert written is not state and written.counters["isa"] == 2
    written.next_number("isa")
    written.save()  # outside the block: written at once, as before
    assert SandboxState.load(tmp_path).counters["isa"] == 3


def test_state_in_memory_is_written_when_the_block_raises(tmp_path: Path) -> None:
    try:
        with in_memory(tmp_path) as state:
            state.next_number("trace")
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert SandboxState.load(tmp_path).counters["trace"] == 1
