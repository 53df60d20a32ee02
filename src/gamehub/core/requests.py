"""The request class: JSON numbers decode as Decimal, so money never passes through float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException

_EXACT_JSON = msgspec.json.Decoder(float_hook=Decimal)


class ExactJSONRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        body = await self.body()
        try:
            return _EXACT_JSON.decode(body or b"null")
        except msgspec.DecodeError as exc:
            raise ClientException(f"JSON is malformed: {exc}") from exc
