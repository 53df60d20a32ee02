"""The API's published contract, generated from the code: docs/openapi.json (the OpenAPI
document the server serves at /docs/openapi.json) and docs/events.md (every SSE event's
name and payload). ``make docs`` writes both; tests/test_contract.py fails when either
is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec
from litestar.serialization import encode_json

from gamehub.app import create_app
from gamehub.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPENAPI_FILE = "openapi.json"


def openapi_document() -> dict[str, Any]:
    """The document as the app builds it (no route depends on settings), its paths in
    order: Litestar's order follows a set's, which changes from one process to the next."""
    app = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
    document: dict[str, Any] = app.openapi_schema.to_schema()
    document["paths"] = dict(sorted(document["paths"].items()))
    return document


def openapi_json() -> str:
    """Encoded as the server encodes it at /docs/openapi.json, then indented."""
    return msgspec.json.format(encode_json(openapi_document()), indent=2).decode() + "\n"


def generated() -> dict[str, str]:
    """Each generated file's name under docs/ and its content."""
    return {OPENAPI_FILE: openapi_json()}


def write(docs: Path = DOCS) -> list[Path]:
    written = []
    for name, content in generated().items():
        path = docs / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS):
        print(f"wrote {path}")
