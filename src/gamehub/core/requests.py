"""The request class: JSON numbers decode as Decimal, so money never passes through float;
text that no backend can store is refused before it reaches one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec
from litestar import Request

from gamehub.errors import MalformedJson, MalformedUrl

_EXACT_JSON = msgspec.json.Decoder(float_hook=Decimal)


class ExactJSONRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        body = await self.body()
        try:
            value = _EXACT_JSON.decode(body or b"null")
        except msgspec.DecodeError as exc:
            # msgspec's message starts "JSON is malformed: "; said once is enough.
            problem = str(exc).removeprefix("JSON is malformed: ")
            raise MalformedJson(f"The body is not valid JSON: {problem}") from exc
        except UnicodeDecodeError as exc:
            raise MalformedJson("The body is not valid JSON: it is not UTF-8") from exc
        # Only an escape can put a NUL in a decoded string (a raw one is malformed JSON);
        # without one in the body there is nothing to look for.
        if b"\\u0000" in body and _holds_nul(value):
            raise MalformedJson("The body holds a NUL character (\\u0000), which text cannot")
        return value


def _holds_nul(value: Any) -> bool:
    """Whether any string in the decoded document (keys included) holds a NUL:
    PostgreSQL refuses it in text, and no name, phone or seed needs one."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


async def refuse_nul_in_url(request: Request[Any, Any, Any]) -> None:
    """A before-request hook: a NUL in the path or the query is a 400 for every route,
    rather than a 500 from whichever backend meets it first."""
    query = request.scope.get("query_string", b"")
    if "\x00" in request.scope["path"] or b"\x00" in unquote_to_bytes(query):
        raise MalformedUrl("The URL holds a NUL character (%00)")
