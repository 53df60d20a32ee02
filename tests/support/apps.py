"""The app served in-process with some settings changed, handing back its runtime too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar

from gamehub.app import create_app
from gamehub.core.runtime import Runtime
from tests.conftest import make_settings, serve_in_process


@dataclass
class Served:
    app: Litestar
    client: httpx.AsyncClient
    runtime: Runtime


@asynccontextmanager
async def served(
    database_url: str, redis_url: str | None, **overrides: Any
) -> AsyncIterator[Served]:
    app = create_app(make_settings(database_url, redis_url, **overrides))
    async with serve_in_process(app) as client:
        yield Served(app, client, app.state.runtime)
