"""`rcm clearinghouse`: the clearinghouse profiles in config/clearinghouses and a live check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cli.output import JSON_OPTION, console, fail, print_json, print_rows
from connectors.clearinghouse import ClearinghouseProfile, list_profiles, load_profile
from connectors.secrets import is_prefect_ref, secret_resolves
from connectors.sftp import check_connection
from rcm.errors import ConfigError

app = typer.Typer(
    name="clearinghouse",
    help="Clearinghouse profiles: list them, check a connection.",
    no_args_is_help=True,
)

_LIST_COLUMNS = (
    "name",
    "endpoint",
    "secret_ref",
    "secret_set",
    "host_key_pinned",
    "needs_confirmation",
)


def _practice_clearinghouse(slug: str) -> str | None:
    """The profile name of the practice `slug`, when the practice model and database exist."""
    try:
        from sqlmodel import Session, select

        from connectors.db import get_engine
        from rcm.models import Practice
    except ImportError:
        return None
    if not _database_exists():
        return None
    try:
        with Session(get_engine()) as session:
            practice = session.exec(select(Practice).where(Practice.slug == slug)).first()
    except Exception:
        # No database or no tables yet: the argument can only be a profile name.
        return None
    return None if practice is None else str(practice.clearinghouse)


def _database_exists() -> bool:
    """False for a SQLite file that is not there yet (looking must not create it)."""
    from sqlalchemy import make_url

    from rcm.settings import get_settings

    url = make_url(get_settings().database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return True
    return Path(url.database).exists()


def resolve_profile(name_or_slug: str) -> tuple[ClearinghouseProfile, str]:
    """A practice slug's profile, else the profile of that name; with how it was found."""
    profile_name = _practice_clearinghouse(name_or_slug)
    if profile_name is not None:
        return load_profile(profile_name), f"practice {name_or_slug}"
    return load_profile(name_or_slug), "profile"


@app.command("list")
def list_command(
    as_json: bool = JSON_OPTION,
    check_secrets: bool = typer.Option(
        False, "--check-secrets", help="Also look up prefect-secret: blocks (calls the API)."
    ),
) -> None:
    """List the clearinghouse profiles and whether their secrets and host keys are in place."""
    try:
        profiles = list_profiles()
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    rows: list[dict[str, Any]] = [
        {
            "name": p.name,
            "display_name": p.display_name,
            "sandbox": p.is_sandbox,
            "endpoint": f"{p.host}:{p.port}",
            "username": p.username,
            "secret_kind": p.secret_kind.value,
            "secret_ref": p.secret_ref,
            "secret_set": (
                None
                if is_prefect_ref(p.secret_ref) and not check_secrets
                else secret_resolves(p.secret_ref)
            ),
            "host_key_pinned": bool(p.host_key_pins),
            "upload_folder": p.upload_folder,
            "inbound_folders": p.inbound_folders,
            "needs_confirmation": p.needs_confirmation,
        }
        for p in profiles.values()
    ]
    print_rows("Clearinghouse profiles", _LIST_COLUMNS, rows, as_json)


@app.command("check")
def check_command(
    name_or_slug: str = typer.Argument(..., help="A profile name or a practice slug."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Connect with a profile: host key, login, and a listing of every folder it uses."""
    try:
        profile, found_via = resolve_profile(name_or_slug)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    steps = check_connection(profile)
    failed = next((step for step in steps if not step.ok), None)
    if as_json:
        print_json(
            {
                "profile": profile.name,
                "found_via": found_via,
                "ok": failed is None,
                "steps": [{"step": s.step, "ok": s.ok, "detail": s.detail} for s in steps],
            }
        )
    else:
        if profile.needs_confirmation:
            console.print(
                f"[yellow]note:[/yellow] {profile.name} is a template (needs_confirmation); "
                "verify it against the clearinghouse's companion guide.",
                highlight=False,
            )
        print_rows(
            f"{profile.display_name} ({profile.name}, via {found_via})",
            ("step", "result", "detail"),
            [
                {"step": s.step, "result": "ok" if s.ok else "FAILED", "detail": s.detail}
                for s in steps
            ],
            as_json=False,
        )
    if failed is not None:
        raise fail(f"{profile.name}: {failed.step} failed: {failed.detail}")
