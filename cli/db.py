"""`rcm db`: migrate the database named by RCM_DATABASE_URL (or --url)."""

from __future__ import annotations

import typer
from sqlalchemy import make_url

from cli.output import console, fail
from connectors import db
from rcm.settings import get_settings

app = typer.Typer(
    name="db",
    help="Create and migrate the database (Alembic migrations shipped with rcm).",
    no_args_is_help=True,
)

URL_OPTION = typer.Option(
    None, "--url", help="SQLAlchemy URL; defaults to RCM_DATABASE_URL.", show_default=False
)


def _url(url: str | None) -> str:
    return url or get_settings().database_url


def _display(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@app.command()
def upgrade(
    revision: str = typer.Option("head", "--revision", "-r", help="Target revision."),
    url: str | None = URL_OPTION,
) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    target = _url(url)
    try:
        db.upgrade(target, revision)
    except Exception as exc:
        raise fail(f"upgrade of {_display(target)} failed: {exc}") from exc
    console.print(f"{_display(target)} is at revision {db.current_revision(target)}")


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help='Target revision; "base" drops every table.'),
    url: str | None = URL_OPTION,
) -> None:
    """Migrate the database down to REVISION."""
    target = _url(url)
    try:
        db.downgrade(target, revision)
    except Exception as exc:
        raise fail(f"downgrade of {_display(target)} failed: {exc}") from exc
    current = db.current_revision(target)
    console.print(f"{_display(target)} is at revision {current or 'base (no tables)'}")


@app.command()
def current(url: str | None = URL_OPTION) -> None:
    """Print the database's revision and whether it is the newest."""
    target = _url(url)
    try:
        revision = db.current_revision(target)
    except Exception as exc:
        raise fail(f"cannot read {_display(target)}: {exc}") from exc
    head = db.head_revision()
    if revision is None:
        console.print(f"{_display(target)} is not migrated (run `rcm db upgrade`); head is {head}")
    elif revision == head:
        console.print(f"{_display(target)} is at revision {revision} (head)")
    else:
        console.print(f"{_display(target)} is at revision {revision}; head is {head}")
