"""``gamehub service``: keys for matchmaking and game servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.runtime import Runtime
from gamehub.matchmaking.repository import MatchmakingRepository
from gamehub.matchmaking.service import create_credential, parse_scopes, revoke_credential
from gamehub.settings import get_settings

T = TypeVar("T")


def _run(work: Callable[[AsyncSession, Runtime], Awaitable[T]]) -> T:
    async def run() -> T:
        runtime = await Runtime.start(get_settings())
        try:
            async with runtime.db.unit_of_work() as session:
                return await work(session, runtime)
        finally:
            await runtime.close()

    return asyncio.run(run())


@click.group()
def service() -> None:
    """Credentials of matchmaking and game servers."""


@service.command("create")
@click.argument("name")
@click.option(
    "--scopes", required=True, help="Comma-separated: matchmaking (POST /update), game-server."
)
def create(name: str, scopes: str) -> None:
    """Create a service key; it is printed once and stored only as a digest."""
    try:
        chosen = parse_scopes(scopes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scopes") from exc
    if not 0 < len(name) <= 64:
        raise click.BadParameter("1 to 64 characters", param_hint="NAME")
    try:
        key = _run(lambda session, runtime: create_credential(session, runtime, name, chosen))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created service {name} with scopes {','.join(chosen)}")
    click.echo(f"key: {key}")
    click.echo("Store this key now: it is not shown again.", err=True)


@service.command("list")
def list_services() -> None:
    """Every service: name, scopes, key hint, last use, revocation."""

    async def read(session: AsyncSession, _: Runtime) -> list[str]:
        return [
            f"{c.name}\t{c.scopes}\t{c.key_hint}…\tlast used {c.last_used_at or 'never'}"
            + (f"\trevoked {c.revoked_at}" if c.revoked_at else "")
            for c in await MatchmakingRepository(session).credentials()
        ]

    for line in _run(read):
        click.echo(line)


@service.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke a service's key at once."""
    if not _run(lambda session, _: revoke_credential(session, name)):
        raise click.ClickException(f"no active service named {name}")
    click.echo(f"revoked service {name}")
