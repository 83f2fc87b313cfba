"""`rcm practice`: onboard a client practice from its YAML file, list and show practices."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cli.output import JSON_OPTION, console, err_console, fail, print_json, print_rows

app = typer.Typer(
    name="practice", help="Onboard and inspect client practices.", no_args_is_help=True
)

_ENV_REF = re.compile(r"^env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?$")


def known_clearinghouses() -> set[str]:
    """Profile names from connectors (which also checks each profile), else the file names."""
    from rcm.errors import ConfigError
    from rcm.onboarding import clearinghouse_names_in_config

    try:
        from connectors.clearinghouse import list_profiles
    except ImportError:
        return clearinghouse_names_in_config()
    try:
        return set(list_profiles())
    except ConfigError as exc:
        err_console.print(f"[yellow]warning:[/yellow] {exc}", highlight=False)
        return clearinghouse_names_in_config()


def _env_only_resolves(ref: str) -> bool:
    match = _ENV_REF.match(ref)
    if not match:
        return False
    return bool(os.environ.get(match.group("name")) or match.group("default"))


def secret_resolver() -> Callable[[str], bool]:
    try:
        from connectors.secrets import secret_resolves
    except ImportError:
        return _env_only_resolves
    return secret_resolves


def print_problems(title: str, rows: list[tuple[str, str, str]]) -> None:
    table = Table(title=title, title_style="bold red")
    table.add_column("File")
    table.add_column("Field")
    table.add_column("Problem")
    for row in rows:
        table.add_row(*row)
    err_console.print(table)


def _config_problems(exc: Any) -> list[tuple[str, str, str]]:
    rows = []
    for problem in exc.problems or [str(exc)]:
        parts = [p.strip() for p in problem.split(": ", 2)]
        while len(parts) < 3:
            parts.insert(1, "")
        rows.append((parts[0], parts[1], parts[2]))
    return rows


@app.command()
def onboard(
    file: Path = typer.Argument(..., help="The practice's onboarding YAML file."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate only; write nothing."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Validate an onboarding file and create or update the practice. Every problem is reported;
    with any problem nothing is written and the exit code is 1."""
    from rcm.errors import ConfigError
    from rcm.onboarding import apply_onboarding, load_onboarding_file, validate_onboarding
    from rcm.payers import load_payers

    try:
        doc = load_onboarding_file(file)
        payers = load_payers()
    except ConfigError as exc:
        print_problems(f"{file.name}: cannot be onboarded", _config_problems(exc))
        raise typer.Exit(1) from None
    clearinghouses = known_clearinghouses()
    resolves = secret_resolver()
    problems = validate_onboarding(
        doc,
        source_name=file.name,
        known_payers={p.key for p in payers},
        known_clearinghouses=clearinghouses,
        secret_resolves=resolves,
    )
    if problems:
        if as_json:
            print_json(
                {
                    "valid": False,
                    "problems": [
                        {"file": p.source_name, "field": p.field, "message": p.message}
                        for p in problems
                    ],
                }
            )
        else:
            print_problems(
                f"{file.name}: {len(problems)} problem(s); nothing was written",
                [(p.source_name, p.field, p.message) for p in problems],
            )
        raise typer.Exit(1)
    if dry_run:
        console.print(f"{file.name}: valid (dry run, nothing written)")
        return

    from connectors.db import session_scope

    try:
        with session_scope() as session:
            result = apply_onboarding(
                session,
                doc,
                source_name=file.name,
                payers=payers,
                known_clearinghouses=clearinghouses,
                secret_resolves=resolves,
            )
    except ConfigError as exc:
        print_problems(f"{file.name}: cannot be onboarded", _config_problems(exc))
        raise typer.Exit(1) from None
    if as_json:
        print_json(
            {
                "slug": result.slug,
                "practice_id": result.practice_id,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "details": result.details,
            }
        )
        return
    rows = [{"kind": kind, **counts} for kind, counts in result.details.items()]
    print_rows(
        f"{result.slug}: onboarded", ["kind", "created", "updated", "unchanged"], rows, False
    )
    if not result.changed:
        console.print("Nothing changed: the database already matches this file.")


def _practice_row(practice: Any, provider_count: int) -> dict[str, Any]:
    return {
        "slug": practice.slug,
        "name": practice.name,
        "billing_npi": practice.billing_npi,
        "tin": practice.tin,
        "taxonomy_code": practice.taxonomy_code,
        "state": practice.state,
        "timezone": practice.timezone,
        "clearinghouse": practice.clearinghouse,
        "default_claim_type": practice.default_claim_type,
        "providers": provider_count,
        "active": practice.active,
    }


@app.command("list")
def list_practices(as_json: bool = JSON_OPTION) -> None:
    """Every onboarded practice."""
    from sqlalchemy import func
    from sqlmodel import select

    from connectors.db import session_scope
    from rcm.models import Practice, Provider

    with session_scope() as session:
        counts = dict(
            session.exec(
                select(Provider.practice_id, func.count()).group_by(Provider.practice_id)  # type: ignore[arg-type]
            ).all()
        )
        practices = session.exec(select(Practice).order_by(Practice.slug)).all()
        rows = [_practice_row(p, counts.get(p.id, 0)) for p in practices]
    print_rows(
        "Practices",
        [
            "slug",
            "name",
            "billing_npi",
            "state",
            "timezone",
            "clearinghouse",
            "default_claim_type",
            "providers",
            "active",
        ],
        rows,
        as_json,
    )


@app.command()
def show(
    slug: str = typer.Argument(..., help="The practice's slug."), as_json: bool = JSON_OPTION
) -> None:
    """One practice with its providers and payer enrollments."""
    from sqlmodel import select

    from connectors.db import session_scope
    from rcm.models import Payer, PayerEnrollment, Practice, Provider

    with session_scope() as session:
        practice = session.exec(select(Practice).where(Practice.slug == slug)).first()
        if practice is None:
            raise fail(f"no practice {slug!r} (rcm practice list)")
        providers = session.exec(
            select(Provider).where(Provider.practice_id == practice.id).order_by(Provider.npi)
        ).all()
        npi_of = {p.id: p.npi for p in providers}
        payer_key = {p.id: p.key for p in session.exec(select(Payer)).all()}
        enrollments = session.exec(
            select(PayerEnrollment).where(PayerEnrollment.practice_id == practice.id)
        ).all()
        provider_rows = [
            {
                "npi": p.npi,
                "role": p.role,
                "first_name": p.first_name,
                "last_name": p.last_name,
                "taxonomy_code": p.taxonomy_code,
            }
            for p in providers
        ]
        enrollment_rows = sorted(
            (
                {
                    "payer": payer_key.get(e.payer_id, str(e.payer_id)),
                    "provider_npi": npi_of.get(e.provider_id) if e.provider_id else None,
                    "credentialing_status": e.credentialing_status,
                    "effective_date": e.effective_date,
                    "termination_date": e.termination_date,
                    "era_enrolled": e.era_enrolled,
                    "eft_enrolled": e.eft_enrolled,
                }
                for e in enrollments
            ),
            key=lambda r: (str(r["payer"]), str(r["provider_npi"] or "")),
        )
        detail = _practice_row(practice, len(providers))
        detail.update(
            id=practice.id,
            address1=practice.address1,
            address2=practice.address2,
            city=practice.city,
            zip=practice.zip,
            phone=practice.phone,
            clearinghouse_account=practice.clearinghouse_account,
            policies=practice.policies,
            created_at=practice.created_at,
            updated_at=practice.updated_at,
        )
    if as_json:
        print_json({"practice": detail, "providers": provider_rows, "enrollments": enrollment_rows})
        return
    summary = Table(title=f"{practice.name} ({practice.slug})", show_header=False)
    summary.add_column("field")
    summary.add_column("value")
    for key, value in detail.items():
        summary.add_row(key, "" if value is None else str(value))
    console.print(summary)
    print_rows(
        "Providers",
        ["npi", "role", "first_name", "last_name", "taxonomy_code"],
        provider_rows,
        False,
    )
    print_rows(
        "Payer enrollments",
        [
            "payer",
            "provider_npi",
            "credentialing_status",
            "effective_date",
            "termination_date",
            "era_enrolled",
            "eft_enrolled",
        ],
        enrollment_rows,
        False,
    )
