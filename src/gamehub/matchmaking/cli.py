"""``gamehub service``: keys for matchmaking and game servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from gamehub.core.money import to_major
from gamehub.core.runtime import Runtime, RuntimeStarter
from gamehub.matchmaking.repository import MatchmakingRepository
from gamehub.matchmaking.service import (
    create_credential,
    describe_max_payout,
    parse_max_payout,
    parse_scopes,
    revoke_credential,
    set_max_payout,
)

T = TypeVar("T")


def _run(work: Callable[[AsyncSession, Runtime], Awaitable[T]]) -> T:
    start: RuntimeStarter = click.get_current_context().obj

    async def run() -> T:
        async with start() as runtime, runtime.db.unit_of_work() as session:
            return await work(session, runtime)

    return asyncio.run(run())


@click.group()
def service() -> None:
    """Credentials of matchmaking and game servers."""


MAX_PAYOUT_HELP = (
    "Most one game may pay its winners through /terminate's settle_wallets, in major "
    "units (500 or 500.00); 0 forbids settling; default follows "
    "GAMEHUB_SERVICE_MAX_PAYOUT_MINOR."
)


def _max_payout(raw: str) -> int | None:
    try:
        return parse_max_payout(raw)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-payout") from exc


def _describe(limit: int | None) -> str:
    return "max payout: the default" if limit is None else f"max payout {to_major(limit):.2f}"


@service.command("create")
@click.argument("name")
@click.option(
    "--scopes", required=True, help="Comma-separated: matchmaking (POST /update), game-server."
)
@click.option("--max-payout", default="default", show_default=True, help=MAX_PAYOUT_HELP)
def create(name: str, scopes: str, max_payout: str) -> None:
    """Create a service key; it is printed once and stored only as a digest."""
    try:
        chosen = parse_scopes(scopes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scopes") from exc
    if not 0 < len(name) <= 64:
        raise click.BadParameter("1 to 64 characters", param_hint="NAME")
    limit = _max_payout(max_payout)
    try:
        key = _run(
            lambda session, runtime: create_credential(session, runtime, name, chosen, limit)
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created service {name} with scopes {','.join(chosen)}, {_describe(limit)}")
    click.echo(f"key: {key}")
    click.echo("Store this key now: it is not shown again.", err=True)


@service.command("list")
def list_services() -> None:
    """Every service: name, scopes, key hint, last use, revocation."""

    async def read(session: AsyncSession, runtime: Runtime) -> list[str]:
        return [
            f"{c.name}\t{c.scopes}\t{c.key_hint}…\t{describe_max_payout(c, runtime)}"
            f"\tlast used {c.last_used_at or 'never'}"
            + (f"\trevoked {c.revoked_at}" if c.revoked_at else "")
            for c in await MatchmakingRepository(session).credentials()
        ]

    for line in _run(read):
        click.echo(line)


@service.command("update")
@click.argument("name")
@click.option("--max-payout", required=True, help=MAX_PAYOUT_HELP)
def update(name: str, max_payout: str) -> None:
    """Change a service key's payout limit; the next /terminate uses it."""
    limit = _max_payout(max_payout)
    if not _run(lambda session, _: set_max_payout(session, name, limit)):
        raise click.ClickException(f"no active service named {name}")
    click.echo(f"service {name}: {_describe(limit)} per game")


@service.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke a service's key at once."""
    if not _run(lambda session, _: revoke_credential(session, name)):
        raise click.ClickException(f"no active service named {name}")
    click.echo(f"revoked service {name}")
