"""Clearinghouse profiles: every shipped file loads; bad files name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from connectors.clearinghouse import (
    INBOUND_KINDS,
    ClearinghouseProfile,
    classify_inbound,
    list_profiles,
    load_profile,
)
from connectors.secrets import is_valid_ref
from rcm.errors import ConfigError
from tests.connectors.helpers import REPO_CONFIG

SHIPPED = sorted(p.stem for p in (REPO_CONFIG / "clearinghouses").glob("*.yaml"))


def test_the_expected_profiles_ship() -> None:
    assert {
        "sandbox",
        "availity",
        "change-healthcare",
        "waystar",
        "office-ally",
        "trizetto",
    } <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads(name: str) -> None:
    profile = load_profile(name, REPO_CONFIG)
    assert profile.name == name
    assert is_valid_ref(profile.secret_ref)
    assert profile.upload_folder in profile.folders
    kinds = {rule.kind for rule in profile.inbound}
    assert {"999", "277CA", "835"} <= kinds <= set(INBOUND_KINDS)
    assert profile.envelope.usage_indicator in ("T", "P")
    if not profile.is_sandbox:
        assert profile.needs_confirmation, "real clearinghouse templates must be confirmed"
        assert profile.confirmation_note
        assert profile.secret_ref.startswith("prefect-secret:")


def test_list_profiles_returns_every_file() -> None:
    assert sorted(list_profiles(REPO_CONFIG)) == SHIPPED


def test_settings_config_dir_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from rcm.settings import reset_settings_cache

    monkeypatch.setenv("RCM_CONFIG_DIR", str(REPO_CONFIG))
    reset_settings_cache()
    assert load_profile("sandbox").is_sandbox


def test_sandbox_profile_classifies_inbound_files() -> None:
    profile = load_profile("sandbox", REPO_CONFIG)
    assert classify_inbound(profile, "inbound/999/acme_999_1.x12") == "999"
    assert classify_inbound(profile, "inbound/277/277CA_000000001_20260101.x12") == "277CA"
    assert classify_inbound(profile, "inbound/277/status_000000001.x12") == "277"
    assert classify_inbound(profile, "inbound/835/era.x12") == "835"
    assert classify_inbound(profile, "inbound/271/elig.x12") == "271"
    assert classify_inbound(profile, "./inbound/999/a.x12") == "999"
    assert classify_inbound(profile, "inbound/999/.a.x12.part") is None
    assert classify_inbound(profile, "inbound/999/a.x12.part") is None
    assert classify_inbound(profile, "outbound/acme.x12") is None
    assert classify_inbound(profile, "elsewhere/era.x12") is None


def test_patterns_in_a_shared_folder() -> None:
    profile = load_profile("availity", REPO_CONFIG)
    assert classify_inbound(profile, "/ReceiveFiles/ABC.999") == "999"
    assert classify_inbound(profile, "/ReceiveFiles/abc.835") == "835"
    assert classify_inbound(profile, "/ReceiveFiles/abc.277") == "277CA"
    assert classify_inbound(profile, "/ReceiveFiles/readme.txt") is None


def test_outbound_name_and_envelope_defaults() -> None:
    profile = load_profile("sandbox", REPO_CONFIG)
    name = profile.outbound_name(
        practice="acme", kind="837P", isa13="000000123", timestamp="20260309233000"
    )
    assert name == "acme_837P_000000123_20260309233000.x12"
    assert profile.temp_name(name) == f".{name}.part"
    assert profile.envelope.application_sender == profile.envelope.sender_id


def _write(folder: Path, name: str, data: dict[str, object] | str) -> Path:
    path = folder / "clearinghouses" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _sandbox_raw() -> dict[str, object]:
    raw = yaml.safe_load((REPO_CONFIG / "clearinghouses" / "sandbox.yaml").read_text())
    assert isinstance(raw, dict)
    return raw


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"host": None}, "host"),
        ({"port": 70000}, "port"),
        ({"host_key": "not a key"}, "host_key"),
        ({"secret_ref": "hunter2"}, "secret_ref"),
        ({"secret_kind": "token"}, "secret_kind"),
        ({"upload_folder": None}, "upload_folder"),
        ({"inbound": [{"kind": "837", "folder": "x"}]}, "inbound.0.kind"),
        ({"envelope": {"receiver_id": "X"}}, "envelope.sender_id"),
        ({"outbound_name_template": "{practice}_{claim_id}.x12"}, "outbound_name_template"),
        ({"usage": "P"}, "usage"),
        ({"max_claims_per_file": 0}, "max_claims_per_file"),
    ],
)
def test_bad_profile_names_file_and_field(
    tmp_path: Path, change: dict[str, object], field: str
) -> None:
    raw = {**_sandbox_raw(), **change}
    raw = {k: v for k, v in raw.items() if v is not None}
    path = _write(tmp_path, "broken", raw)
    with pytest.raises(ConfigError) as caught:
        load_profile("broken", tmp_path)
    message = str(caught.value)
    assert str(path) in message
    assert any(problem.startswith(field) for problem in caught.value.problems), message


def test_default_secret_only_in_sandbox_profiles(tmp_path: Path) -> None:
    raw = {**_sandbox_raw(), "is_sandbox": False}
    _write(tmp_path, "leaky", raw)
    with pytest.raises(ConfigError, match="allowed only in sandbox profiles"):
        load_profile("leaky", tmp_path)


def test_name_must_match_file(tmp_path: Path) -> None:
    _write(tmp_path, "one", {**_sandbox_raw(), "name": "two"})
    with pytest.raises(ConfigError, match="must match the file name"):
        load_profile("one", tmp_path)


def test_invalid_yaml_and_unknown_profile(tmp_path: Path) -> None:
    path = _write(tmp_path, "garbled", "host: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as caught:
        load_profile("garbled", tmp_path)
    assert str(path) in str(caught.value)
    with pytest.raises(ConfigError, match="no clearinghouse profile 'nope'"):
        load_profile("nope", tmp_path)
    with pytest.raises(ConfigError, match="not a slug"):
        load_profile("../etc/passwd", tmp_path)


def test_list_profiles_reports_every_bad_file(tmp_path: Path) -> None:
    _write(tmp_path, "good", _sandbox_raw())
    bad_one = _write(tmp_path, "bad-one", {**_sandbox_raw(), "port": "x"})
    bad_two = _write(tmp_path, "bad-two", "- a list\n")
    with pytest.raises(ConfigError) as caught:
        list_profiles(tmp_path)
    assert str(bad_one) in str(caught.value) and str(bad_two) in str(caught.value)
    assert "good.yaml" not in str(caught.value)


def test_profiles_are_immutable_and_hold_no_secrets() -> None:
    profile = load_profile("sandbox", REPO_CONFIG)
    with pytest.raises(ValueError):
        profile.host = "evil.example.com"  # type: ignore[misc]
    assert isinstance(profile, ClearinghouseProfile)
    for name in SHIPPED:
        text = (REPO_CONFIG / "clearinghouses" / f"{name}.yaml").read_text()
        assert "BEGIN OPENSSH PRIVATE KEY" not in text and "password:" not in text
