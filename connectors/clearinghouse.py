"""Clearinghouse profiles: where a clearinghouse's SFTP account is, how its files are named, and
which envelope IDs go on what we send it. Loaded from config/clearinghouses/*.yaml.

A profile holds no secret: `secret_ref` names one (connectors.secrets). The host key is pinned
in `host_key` as an OpenSSH public key line, a ``SHA256:`` fingerprint, or ``file:PATH`` (a file
holding the public key line; ``{var_dir}`` and ``{config_dir}`` expand from settings).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors.secrets import SECRET_REF_FORMS, is_valid_ref, ref_has_default
from rcm.errors import ConfigError

INBOUND_KINDS = ("999", "277CA", "835", "271", "277")
InboundKind = Literal["999", "277CA", "835", "271", "277"]

_SLUG = r"^[a-z0-9][a-z0-9-]*$"
_KEY_LINE = re.compile(r"^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$")
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")
_TEMPLATE_FIELDS = {"practice", "kind", "isa13", "timestamp", "date", "time", "sender_id"}


class SecretKind(StrEnum):
    PASSWORD = "password"
    PRIVATE_KEY = "private_key"


class InboundRule(BaseModel):
    """Files in `folder` whose name matches `pattern` (a case-insensitive glob) are `kind`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: InboundKind
    folder: str
    pattern: str = "*"


class Envelope(BaseModel):
    """ISA/GS identifiers for what we send to this clearinghouse."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sender_qualifier: str = Field(default="ZZ", min_length=2, max_length=2)
    sender_id: str = Field(min_length=1, max_length=15)
    receiver_qualifier: str = Field(default="ZZ", min_length=2, max_length=2)
    receiver_id: str = Field(min_length=1, max_length=15)
    gs_sender_id: str | None = Field(default=None, max_length=15)
    gs_receiver_id: str | None = Field(default=None, max_length=15)
    usage_indicator: Literal["T", "P"] = "T"

    @property
    def application_sender(self) -> str:
        """GS02: defaults to the ISA sender ID."""
        return self.gs_sender_id or self.sender_id

    @property
    def application_receiver(self) -> str:
        """GS03: defaults to the ISA receiver ID."""
        return self.gs_receiver_id or self.receiver_id


class ClearinghouseProfile(BaseModel):
    """One clearinghouse SFTP account and its conventions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_SLUG)
    display_name: str
    is_sandbox: bool = False
    needs_confirmation: bool = False
    confirmation_note: str | None = None

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    host_key: str | list[str] | None = None
    username: str = Field(min_length=1)
    secret_kind: SecretKind
    secret_ref: str
    passphrase_ref: str | None = None

    upload_folder: str
    inbound: list[InboundRule] = Field(min_length=1)
    processed_folder: str | None = None
    upload_temp_template: str = ".{name}.part"
    outbound_name_template: str = "{practice}_{kind}_{isa13}_{timestamp}.x12"

    envelope: Envelope
    max_claims_per_file: int = Field(default=5000, ge=1, le=5000)

    connect_timeout: float = Field(default=15.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    idle_timeout: float = Field(default=300.0, gt=0)
    keepalive_seconds: int = Field(default=30, ge=0)

    @field_validator("host_key")
    @classmethod
    def _host_key_forms(cls, value: str | list[str] | None) -> str | list[str] | None:
        for pin in [value] if isinstance(value, str) else value or []:
            pin = pin.strip()
            if not (_KEY_LINE.match(pin) or _FINGERPRINT.match(pin) or pin.startswith("file:")):
                raise ValueError(
                    "expected an OpenSSH public key line (ssh-ed25519 AAAA...), "
                    "a SHA256:... fingerprint, or file:PATH"
                )
        return value

    @field_validator("secret_ref", "passphrase_ref")
    @classmethod
    def _secret_ref_form(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_ref(value):
            raise ValueError(f"expected a secret reference: {', '.join(SECRET_REF_FORMS)}")
        return value

    @field_validator("upload_folder", "processed_folder")
    @classmethod
    def _folder(cls, value: str | None) -> str | None:
        return None if value is None else normalize_folder(value)

    @field_validator("upload_temp_template")
    @classmethod
    def _temp_template(cls, value: str) -> str:
        if "{name}" not in value or "/" in value:
            raise ValueError("must contain {name} and no '/'")
        return value

    @field_validator("outbound_name_template")
    @classmethod
    def _name_template(cls, value: str) -> str:
        unknown = set(re.findall(r"{(\w+)", value)) - _TEMPLATE_FIELDS
        if unknown or "/" in value:
            raise ValueError(
                f"unknown fields {sorted(unknown)}; allowed: {sorted(_TEMPLATE_FIELDS)}, no '/'"
                if unknown
                else "a file name template cannot contain '/'"
            )
        return value

    @model_validator(mode="after")
    def _defaults_only_in_sandbox(self) -> ClearinghouseProfile:
        for ref in (self.secret_ref, self.passphrase_ref):
            if ref and ref_has_default(ref) and not self.is_sandbox:
                raise ValueError(
                    "secret_ref: a default value (env:NAME:-default) is allowed only in sandbox "
                    "profiles; real credentials never live in config"
                )
        return self

    @property
    def host_key_pins(self) -> list[str]:
        if self.host_key is None:
            return []
        return [self.host_key] if isinstance(self.host_key, str) else list(self.host_key)

    @property
    def inbound_folders(self) -> list[str]:
        """Distinct inbound folders in the order the profile names them."""
        return list(dict.fromkeys(normalize_folder(rule.folder) for rule in self.inbound))

    @property
    def folders(self) -> list[str]:
        """Every folder the account may touch; anything else is refused."""
        extra = [self.processed_folder] if self.processed_folder else []
        return list(dict.fromkeys([self.upload_folder, *self.inbound_folders, *extra]))

    def outbound_name(self, *, practice: str, kind: str, isa13: str, timestamp: str) -> str:
        """The remote file name for an outbound interchange."""
        return self.outbound_name_template.format(
            practice=practice,
            kind=kind,
            isa13=isa13,
            timestamp=timestamp,
            date=timestamp[:8],
            time=timestamp[8:],
            sender_id=self.envelope.sender_id.strip(),
        )

    def temp_name(self, name: str) -> str:
        return self.upload_temp_template.format(name=name)


def normalize_folder(folder: str) -> str:
    """A remote folder without trailing or doubled slashes; '' and '.' mean the login folder."""
    folder = folder.strip()
    if not folder or folder == ".":
        return "."
    normalized = posixpath.normpath(folder)
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    return normalized


def classify_inbound(profile: ClearinghouseProfile, remote_path: str) -> str | None:
    """The kind ('999', '277CA', '835', '271', '277') of an inbound file, or None.

    The first matching rule wins, so a profile lists narrow patterns (``*277CA*``) before broad
    ones (``*``) in the same folder. Hidden and temporary names are never classified.
    """
    folder, _, name = normalize_folder(remote_path).rpartition("/")
    folder = normalize_folder(folder)
    if not name or name.startswith(".") or name.endswith((".part", ".tmp", ".filepart")):
        return None
    for rule in profile.inbound:
        if normalize_folder(rule.folder) == folder and fnmatch.fnmatch(
            name.lower(), rule.pattern.lower()
        ):
            return rule.kind
    return None


def default_config_dir() -> Path:
    from rcm.settings import get_settings

    return Path(get_settings().config_dir)


def _profiles_dir(config_dir: Path | str | None) -> Path:
    return Path(config_dir if config_dir is not None else default_config_dir()) / "clearinghouses"


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    return f"{location}: {error['msg']}"


# Parsed profiles by (path, modification time, size): a day's run asks for the same few
# profiles thousands of times, and an edited file is read again.
_PARSED: dict[tuple[str, int, int], ClearinghouseProfile] = {}
_PARSED_LOCK = threading.Lock()


def parse_profile(path: Path) -> ClearinghouseProfile:
    """Read one profile file. ConfigError names the file and every bad field."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"clearinghouse profile {path}: cannot be read ({exc.strerror})") from exc
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _PARSED_LOCK:
        cached = _PARSED.get(key)
    if cached is not None:
        return cached
    profile = _parse_profile(path)
    with _PARSED_LOCK:
        _PARSED[key] = profile
    return profile


def _parse_profile(path: Path) -> ClearinghouseProfile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"clearinghouse profile {path}: not valid YAML", [str(exc)]) from exc
    except OSError as exc:
        raise ConfigError(f"clearinghouse profile {path}: cannot be read ({exc.strerror})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"clearinghouse profile {path}: expected a mapping of fields")
    raw.setdefault("name", path.stem)
    if raw["name"] != path.stem:
        raise ConfigError(
            f"clearinghouse profile {path}: invalid",
            [f"name: {raw['name']!r} must match the file name {path.stem!r}"],
        )
    try:
        return ClearinghouseProfile.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(dict(e)) for e in exc.errors()]
        raise ConfigError(f"clearinghouse profile {path}: invalid", problems) from exc


def list_profiles(config_dir: Path | str | None = None) -> dict[str, ClearinghouseProfile]:
    """Every profile in <config_dir>/clearinghouses, by name. ConfigError on any bad file."""
    folder = _profiles_dir(config_dir)
    if not folder.is_dir():
        return {}
    profiles: dict[str, ClearinghouseProfile] = {}
    problems: list[str] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            profile = parse_profile(path)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        profiles[profile.name] = profile
    if problems:
        raise ConfigError(f"bad clearinghouse profiles in {folder}", problems)
    return profiles


def load_profile(name: str, config_dir: Path | str | None = None) -> ClearinghouseProfile:
    """The profile called `name`. ConfigError when it does not exist or is invalid."""
    if not re.match(_SLUG, name):
        raise ConfigError(f"clearinghouse profile name {name!r} is not a slug (a-z, 0-9, -)")
    folder = _profiles_dir(config_dir)
    for suffix in (".yaml", ".yml"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return parse_profile(path)
    known = sorted(p.stem for p in folder.glob("*.y*ml")) if folder.is_dir() else []
    raise ConfigError(
        f"no clearinghouse profile {name!r} in {folder}", [f"known profiles: {', '.join(known)}"]
    )


__all__ = [
    "INBOUND_KINDS",
    "ClearinghouseProfile",
    "Envelope",
    "InboundKind",
    "InboundRule",
    "SecretKind",
    "classify_inbound",
    "list_profiles",
    "load_profile",
    "normalize_folder",
    "parse_profile",
]
