"""The `rcm` command. Each module in this package that defines `app` (a typer.Typer with a
name) becomes a command group, so command groups are added without editing this file."""

from __future__ import annotations

import importlib
import pkgutil

import typer

import cli

app = typer.Typer(
    name="rcm",
    help="Revenue-cycle management for medical billing firms.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_NOT_GROUPS = {"main", "output"}


def _register_groups() -> None:
    for module_info in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name):
        if module_info.name in _NOT_GROUPS or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cli.{module_info.name}")
        group = getattr(module, "app", None)
        if isinstance(group, typer.Typer):
            app.add_typer(group)
        command = getattr(module, "command", None)
        if callable(command):
            app.command(name=module_info.name.replace("_", "-"))(command)


@app.callback()
def _main() -> None:
    from rcm.logging import configure_logging

    configure_logging()


_register_groups()

if __name__ == "__main__":
    app()
