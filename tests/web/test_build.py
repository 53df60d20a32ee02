"""The web client's committed build: served at / without Node.js, and never stale."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from gamehub.web import STATIC
from tests.support.api import Client

ROOT = Path(__file__).resolve().parents[2]
# web/inputs.mjs lists the same files; the build records their digest in inputs.sha256.
BUILD_FILES = [
    "docs/openapi.json",
    "web/index.html",
    "web/package-lock.json",
    "web/vite.config.ts",
    "web/build.mjs",
    "web/inputs.mjs",
    "web/tsconfig.json",
]


def inputs_digest() -> str:
    sources = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "web" / "src").rglob("*")
        if path.is_file() and path.name != "schema.d.ts"
    ]
    digest = hashlib.sha256()
    for name in sorted([*BUILD_FILES, *sources]):
        digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes() + b"\0")
    return digest.hexdigest()


def test_the_committed_build_is_made_from_the_current_sources_and_api() -> None:
    recorded = (STATIC / "inputs.sha256").read_text().strip()
    assert recorded == inputs_digest(), (
        "src/gamehub/web/static is stale: run `make web` (cd web && npm ci && npm run build) "
        "and commit the result"
    )


async def test_the_page_is_served_at_the_root_with_its_assets(client: Client) -> None:
    page = await client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assets = re.findall(r'(?:src|href)="(/app/[^"]+)"', page.text)
    assert any(a.endswith(".js") for a in assets)
    assert any(a.endswith(".css") for a in assets)
    for asset in assets:
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert served.content == (STATIC / asset.removeprefix("/app/")).read_bytes()


async def test_the_page_is_not_part_of_the_api_contract(client: Client) -> None:
    paths = (await client.get("/docs/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert not any(path.startswith("/app") for path in paths)


async def test_an_unknown_asset_is_a_404_not_the_page(client: Client) -> None:
    response = await client.get("/app/assets/missing.js")
    assert response.status_code == 404
