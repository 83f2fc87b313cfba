"""`rcm batch build`: put a practice's READY claims into 837 files, gate them with pyx12 and write
them to a local folder. Archiving and SFTP upload belong to the flows; this command leaves the
interchanges built (a later run hands back the same bytes, never renumbered)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cli.output import JSON_OPTION, console, fail, print_json, print_table

app = typer.Typer(name="batch", help="Batch READY claims into 837 files.", no_args_is_help=True)


def envelope_settings(profile: Any, practice: Any) -> Any:
    """The domain's envelope values from a clearinghouse profile."""
    from rcm.batching import EnvelopeSettings

    env = profile.envelope
    return EnvelopeSettings(
        sender_qualifier=env.sender_qualifier,
        sender_id=env.sender_id,
        receiver_qualifier=env.receiver_qualifier,
        receiver_id=env.receiver_id,
        application_sender=env.application_sender,
        application_receiver=env.application_receiver,
        usage=env.usage_indicator,
        receiver_name=profile.display_name.upper()[:60],
        submitter_id=practice.clearinghouse_account,
        file_name_template=profile.outbound_name_template,
    )


def practice_and_profile(session: Any, slug: str) -> tuple[Any, Any]:
    from sqlmodel import select

    from connectors.clearinghouse import load_profile
    from rcm.errors import ConfigError
    from rcm.models import Practice

    practice = session.exec(select(Practice).where(Practice.slug == slug)).first()
    if practice is None:
        raise fail(f"no practice with slug {slug!r}")
    try:
        profile = load_profile(practice.clearinghouse)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    return practice, profile


def default_out(slug: str) -> Path:
    from rcm.settings import get_settings

    return Path(get_settings().var_dir) / "outbound" / slug


@app.command()
def build(
    practice: str = typer.Option(..., "--practice", "-p", help="Practice slug."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for the files (default ./var/outbound/<practice>)."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Processes for the pyx12 gate (1: validate in this one)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Assign READY claims to interchanges, build each 837 and put it through the pyx12 gate.
    Files that pass are written to --out; claims of a file that fails go back to HELD."""
    from concurrent.futures import Executor, ProcessPoolExecutor
    from contextlib import nullcontext

    from connectors.db import session_scope
    from rcm.batching import batch_practice
    from rcm.errors import RcmError

    folder = out or default_out(practice)
    written: list[str] = []
    pool: Any = ProcessPoolExecutor(max_workers=workers) if workers > 1 else nullcontext()
    try:
        with pool as executor, session_scope() as session:
            row, profile = practice_and_profile(session, practice)
            run = batch_practice(
                session,
                practice_id=row.id,
                profile_name=profile.name,
                envelope=envelope_settings(profile, row),
                max_claims_per_file=profile.max_claims_per_file,
                executor=executor if isinstance(executor, Executor) else None,
                source=f"cli:batch-build:{practice}",
            )
            folder.mkdir(parents=True, exist_ok=True)
            for outcome in run.outcomes:
                if outcome.data is not None and outcome.file_name:
                    path = folder / outcome.file_name
                    path.write_bytes(outcome.data)
                    written.append(str(path))
    except RcmError as exc:
        raise fail(str(exc)) from exc
    summary = {"practice": practice, "out": str(folder), **run.summary(), "written": written}
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{practice}: {summary['built']} file(s) built with {summary['claims']} claim(s), "
        f"{summary['rejected']} rejected ({summary['held_claims']} claim(s) held)"
    )
    if summary["files"]:
        print_table(
            "Interchanges",
            ["interchange", "status", "file", "claims", "errors"],
            [
                [f["interchange_id"], f["status"], f["file_name"], f["claims"], f["errors"]]
                for f in summary["files"]
            ],
        )
