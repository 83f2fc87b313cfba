"""A reusable PHI scanner: what the synthetic world knows about its patients, looked for in
everything the platform writes where PHI must never be (logs, exception messages, CLI output,
Prefect artifacts, files under var/).

    scanner = PhiScanner.from_worlds(worlds)
    scanner.scan_text(text, where="demo.log")        # -> list[Leak]
    scanner.scan_tree(var_dir)                        # every file except the PHI-by-necessity ones

Values collected per patient (and per subscriber on each coverage card): full name, last name,
first name (when long enough not to be an English word), birth date in every format the code
might print (ISO, YYYYMMDD, MM/DD/YYYY, M/D/YYYY, MM-DD-YYYY, DD.MM.YYYY), member IDs, street
address; per visit: the ICD-10-CM codes in both dotted and undotted form (X12 carries them
without the dot).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

# Files that hold PHI by necessity: the database, the X12 the archive keeps (its bytes are the
# claims), and the sandbox clearinghouse's inbound/outbound X12 (the files exchanged). Everything
# else written under var/ is scanned.
X12_SUFFIXES = (".x12", ".edi", ".837", ".835", ".txt")
PHI_BY_NECESSITY_SUFFIXES = (".db", ".db-journal", ".db-wal", ".db-shm", ".sqlite")


@dataclass(frozen=True)
class Leak:
    where: str
    kind: str
    value: str
    context: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.value!r} in …{self.context}…"


@dataclass
class PhiScanner:
    """Needles by kind; a needle matches as a whole token (not inside a longer ID or word)."""

    needles: dict[str, set[str]] = field(default_factory=dict)
    scanned_bytes: int = 0
    scanned_files: int = 0

    def add(self, kind: str, value: Any) -> None:
        text = str(value or "").strip()
        if len(text) < 4:
            return
        self.needles.setdefault(kind, set()).add(text)

    def add_birth_date(self, born: date) -> None:
        for fmt in ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y", "%m-%d-%Y", "%d.%m.%Y"):
            self.add("birth date", born.strftime(fmt))
        self.add("birth date", f"{born.month}/{born.day}/{born.year}")

    def add_diagnosis(self, code: str) -> None:
        # Z-codes such as Z23 are three characters; the undotted X12 form of short codes is
        # too generic to search for (it matches ordinary IDs), so only codes of 4+ characters
        # with a dot, and their undotted form when 5+ characters, are needles.
        if "." in code:
            self.add("diagnosis", code)
            bare = code.replace(".", "")
            if len(bare) >= 5:
                self.add("diagnosis", bare)

    @classmethod
    def from_worlds(cls, worlds: Iterable[Any]) -> PhiScanner:
        """From sandbox.synthetic.SyntheticPractice objects (their patients and specialty)."""
        scanner = cls()
        for world in worlds:
            for person in world.patients:
                scanner.add_person(person)
            for pattern in world.specialty.patterns:
                for visit in pattern:
                    for code in visit.diagnoses:
                        scanner.add_diagnosis(code)
        return scanner

    def add_person(self, person: Any) -> None:
        self.add("name", f"{person.first_name} {person.last_name}")
        self.add("name", f"{person.last_name}, {person.first_name}")
        self.add("name", f"{person.last_name}*{person.first_name}")  # X12 NM1 fragment
        if len(person.last_name) >= 5:
            self.add("last name", person.last_name)
        self.add_birth_date(person.birth_date)
        self.add("address", person.address1)
        for card in (person.primary, person.secondary):
            if card is None:
                continue
            self.add("member id", card.member_id)
            self.add("name", f"{card.subscriber_first} {card.subscriber_last}")
            self.add_birth_date(card.subscriber_birth)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.needles.values())

    def _pattern(self) -> re.Pattern[str]:
        cached = getattr(self, "_compiled", None)
        if cached is not None and cached[0] == self.count:
            return cached[1]  # type: ignore[no-any-return]
        alternatives = sorted(
            {n for ns in self.needles.values() for n in ns}, key=len, reverse=True
        )
        body = "|".join(re.escape(a) for a in alternatives) or r"(?!x)x"
        compiled = re.compile(rf"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z0-9])")
        object.__setattr__(self, "_compiled", (self.count, compiled))
        return compiled

    def _kind_of(self, value: str) -> str:
        for kind, values in self.needles.items():
            if value in values:
                return kind
        return "?"

    def scan_text(self, text: str, where: str) -> list[Leak]:
        self.scanned_bytes += len(text)
        leaks = []
        for match in self._pattern().finditer(text):
            start, end = max(0, match.start() - 40), min(len(text), match.end() + 40)
            context = text[start:end].replace("\n", " ")
            leaks.append(Leak(where, self._kind_of(match.group(0)), match.group(0), context))
        return leaks

    def scan_file(self, path: Path, where: str | None = None) -> list[Leak]:
        self.scanned_files += 1
        text = path.read_bytes().decode("utf-8", errors="replace")
        return self.scan_text(text, where or str(path))

    def scan_tree(
        self, root: Path, *, skip: Iterable[Path] = (), x12_dirs: Iterable[Path] = ()
    ) -> list[Leak]:
        """Every file under `root` except the database, X12 files under `x12_dirs` (the archive,
        the sandbox's folders) and anything under `skip`."""
        skipped = [p.resolve() for p in skip]
        x12_roots = [p.resolve() for p in x12_dirs]
        leaks: list[Leak] = []
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            resolved = path.resolve()
            if any(resolved.is_relative_to(s) for s in skipped):
                continue
            if resolved.name.endswith(PHI_BY_NECESSITY_SUFFIXES):
                continue
            if any(resolved.is_relative_to(x) for x in x12_roots) and is_x12(path):
                continue
            leaks += self.scan_file(path, str(path.relative_to(root)))
        return leaks


def is_x12(path: Path) -> bool:
    """An X12 interchange (by content, whatever its name)."""
    with path.open("rb") as handle:
        head = handle.read(3)
    return head == b"ISA"


# --- secrets in files the repository ships ---------------------------------------------------

PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# `password: value`, `password=value`, `"password": "value"` (and secret/passphrase/token keys)
# with a literal value, not a reference (env:, file:, prefect-secret:) or a placeholder.
ASSIGNED_SECRET = re.compile(
    r"""(?ix)
    (?<![\w-])(password|passwd|passphrase|secret|secret_key|api_key|token|aws_secret_access_key)\b
    ["']?\s*[:=]\s*["']?
    (?P<value>[^\s"'#,}{]+)
    """
)
ALLOWED_SECRET_VALUES = {
    "sandbox-demo",  # the documented sandbox demo default (sandbox/accounts.py)
}
REFERENCE_PREFIXES = ("env:", "file:", "prefect-secret:", "${", "$", "<", "{", "...", "***")


def secret_findings(text: str, where: str) -> list[str]:
    findings = []
    if PRIVATE_KEY.search(text):
        findings.append(f"{where}: a private key")
    for match in ASSIGNED_SECRET.finditer(text):
        value = match.group("value").strip().rstrip(".;)`")
        if not value or value.lower() in {"none", "null", "true", "false", "str", "password"}:
            continue
        if value in ALLOWED_SECRET_VALUES or value.startswith(REFERENCE_PREFIXES):
            continue
        if value.lower().startswith(("env", "file", "prefect", "secret_ref", "rcm_")):
            continue
        findings.append(f"{where}: {match.group(0)!r}")
    return findings
