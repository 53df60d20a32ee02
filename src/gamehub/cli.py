"""The ``gamehub`` command: serve, migrate, and operator tools."""

from __future__ import annotations

import asyncio
import sys

import click

from gamehub import migrate
from gamehub.settings import get_settings


@click.group()
def main() -> None:
    """Game Hub backend."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--migrate/--no-migrate",
    "run_migrations",
    default=False,
    help="Upgrade the database schema before serving.",
)
def serve(host: str, port: int, workers: int, run_migrations: bool) -> None:
    """Serve the API with granian."""
    from granian import Granian
    from granian.constants import Interfaces

    settings = get_settings()
    if workers > 1 and settings.redis_url is None:
        raise click.UsageError(
            "--workers > 1 needs GAMEHUB_REDIS_URL: without Redis, lockouts, revocations and "
            "events live in one process's memory and the workers would disagree."
        )
    if workers > 1 and settings.database_url.startswith("sqlite"):
        click.echo("warning: several workers on SQLite serialise every write", err=True)
    if run_migrations:
        migrate.upgrade(settings.database_url)
    Granian(
        "gamehub.app:create_app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        log_access=False,
    ).serve()


@main.group()
def db() -> None:
    """Database schema migrations."""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the schema (to the newest revision by default)."""
    migrate.upgrade(get_settings().database_url, revision)


@db.command()
@click.argument("revision", default="-1")
def downgrade(revision: str) -> None:
    """Downgrade the schema (one revision by default; 'base' removes every table)."""
    migrate.downgrade(get_settings().database_url, revision)


@db.command()
def current() -> None:
    """Show the schema's current revision."""
    click.echo(migrate.current(get_settings().database_url) or "(empty database)")


@main.command("create-admin")
@click.argument("username")
@click.option("--email", default=None)
@click.password_option(help="Prompted for when not given.")
def create_admin(username: str, email: str | None, password: str) -> None:
    """Create an administrator account, or make an existing account one."""
    from gamehub.admin.service import create_admin as create

    try:
        created = asyncio.run(create(get_settings(), username, password, email))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'created' if created else 'promoted'} administrator {username}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
