"""The web client, served by the API: ``GET /`` is its page, ``/app/`` its assets.

Its sources are in ``web/`` at the repository's root; ``npm run build`` there writes the
bundle into ``static/`` here, which is committed, so that running the server never needs
Node.js (``tests/web/test_build.py`` fails when the bundle is older than its sources).
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.static_files import create_static_files_router

STATIC = Path(__file__).parent / "static"

# The page names its assets by fixed names, so neither may be kept stale by a cache.
_REVALIDATE = CacheControlHeader(no_cache=True)


@get("/", include_in_schema=False, cache_control=_REVALIDATE, media_type=MediaType.HTML)
async def client_page() -> Response[bytes]:
    return Response((STATIC / "index.html").read_bytes(), media_type=MediaType.HTML)


client_assets = create_static_files_router(
    path="/app",
    directories=[STATIC],
    include_in_schema=False,
    cache_control=_REVALIDATE,
    name="web-client",
)
