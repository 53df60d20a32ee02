"""``gamehub leaderboard``: snapshots and rebuilds."""

from __future__ import annotations

import asyncio

import click

from gamehub.core.runtime import RuntimeStarter
from gamehub.settings import get_settings
from gamehub.stats.leaderboard import take_snapshot


@click.group()
def leaderboard() -> None:
    """Leaderboards."""


@leaderboard.command("snapshot")
@click.pass_obj
def snapshot(start: RuntimeStarter) -> None:
    """Write the top of each period's board to the leaderboard table now."""

    async def run() -> int:
        async with start() as runtime:
            return await take_snapshot(runtime)

    click.echo(f"wrote {asyncio.run(run())} leaderboard rows")


@leaderboard.command("rebuild")
@click.pass_obj
def rebuild(start: RuntimeStarter) -> None:
    """Drop every board from Redis; each is rebuilt from the database when next read."""
    if get_settings().redis_url is None:
        raise click.ClickException(
            "without GAMEHUB_REDIS_URL the boards live in the server's memory: restart it"
        )

    async def run() -> None:
        async with start() as runtime:
            await runtime.leaderboards.forget()

    asyncio.run(run())
    click.echo("leaderboards dropped; they rebuild from the database on their next read")
