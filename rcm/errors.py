"""The domain's error tree (DESIGN.md, Errors).

Every error that reaches an operator names what it can without naming a patient: the file, the
segment number and byte offset for X12, the field for configuration, the claim's UUID for state.
"""

from __future__ import annotations


class RcmError(Exception):
    """Base of every error the domain raises on purpose."""


class X12Error(RcmError):
    """An X12 file that cannot be read or does not follow its implementation guide."""


class X12SyntaxError(X12Error):
    """Bad envelope, delimiters or counts: names the file, segment number and byte offset."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        segment_number: int | None = None,
        offset: int | None = None,
        segment_id: str | None = None,
    ) -> None:
        self.reason = message
        self.file = file
        self.segment_number = segment_number
        self.offset = offset
        self.segment_id = segment_id
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.segment_number is not None:
            seg = f"segment {self.segment_number}"
            if self.segment_id:
                seg += f" ({self.segment_id})"
            where.append(seg)
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        return f"{self.reason} [{', '.join(where)}]" if where else self.reason

    def with_file(self, file: str) -> X12SyntaxError:
        """The same error, naming the file it came from."""
        return X12SyntaxError(
            self.reason,
            file=file,
            segment_number=self.segment_number,
            offset=self.offset,
            segment_id=self.segment_id,
        )


class X12ValidationError(X12Error):
    """Implementation-guide violations found by the conformance gate (pyx12 report, the 999)."""


class PostingError(RcmError):
    """An ERA that cannot be posted: unbalanced, unmatched, or a duplicate."""


class ConfigError(RcmError):
    """Onboarding data or settings that cannot work. `problems` lists every one found."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        detail = "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(f"{message}{detail}")


class StateError(RcmError):
    """A claim transition the state graph does not allow."""
