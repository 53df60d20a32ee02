"""A request's ASGI scope, for calling an app directly, without a server or a client."""

from __future__ import annotations

from typing import Any


def http_scope(
    method: str, path: str, headers: dict[str, str] | None = None, query: str = ""
) -> dict[str, Any]:
    """The scope of ``method path?query`` from a loopback client, headers lower-cased."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50001),
        "server": ("gamehub.test", 80),
    }
