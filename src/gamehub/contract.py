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
from gamehub.realtime.events import CATALOG
from gamehub.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPENAPI_FILE = "openapi.json"
EVENTS_FILE = "events.md"


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


def events_markdown() -> str:
    """docs/events.md: each event's name, audience and payload, from realtime/events.py."""
    lines = [
        "# Server-Sent Events",
        "",
        "<!-- Generated from src/gamehub/realtime/events.py by `make docs`; do not edit. -->",
        "",
        "Two streams: `GET /events` (also `/events/connect`), the caller's own, opened with",
        "their credentials or a ticket from `POST /events/ticket`; and",
        "`GET /games/roulette/{roulette_id}/events`, a room's, for anyone to watch. Each",
        "frame is `id: <event id>`, `event: <name>` and `data: <one line of JSON>`; a",
        "client that reconnects with `Last-Event-ID` is sent what it missed first.",
        "Amounts are numbers of major units, as everywhere in the API.",
        "",
        "| event | sent to |",
        "|---|---|",
    ]
    lines += [f"| [`{e.name}`](#{e.name}) | {e.audience} |" for e in CATALOG]
    for spec in CATALOG:
        lines += ["", f"## {spec.name}", "", f"Sent to {spec.audience}."]
        for form in spec.forms:
            lines += ["", *_describe(form)]
    return "\n".join(lines) + "\n"


def _describe(form: type[msgspec.Struct]) -> list[str]:
    _, components = msgspec.json.schema_components([form])
    own = components[form.__name__]
    doc = " ".join((form.__doc__ or "").split())
    lines = [f"`{form.__name__}`: {doc}", "", "| field | type | required |", "|---|---|---|"]
    required = set(own.get("required", []))
    for field, prop in own["properties"].items():
        lines.append(f"| `{field}` | {_json_type(prop)} | {'yes' if field in required else 'no'} |")
    return lines


def _json_type(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        return " or ".join(_json_type(arm) for arm in prop["anyOf"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"array of {_json_type(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop:
        return f"object of {_json_type(prop['additionalProperties'])}"
    if kind == "string" and "format" in prop:
        return f"string ({prop['format']})"
    return str(kind)


def generated() -> dict[str, str]:
    """Each generated file's name under docs/ and its content."""
    return {OPENAPI_FILE: openapi_json(), EVENTS_FILE: events_markdown()}


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
