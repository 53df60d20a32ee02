"""Plain words for a request that does not fit its route's schema.

Litestar reports msgspec's messages ("Expected `str` of length >= 8", "Object missing
required field `username`"); a client gets "password: must be at least 8 characters"
and "username: is required". Each rule below matches one of msgspec's message forms;
what none matches is passed on with its backquotes removed. A pattern is described by
the ``description`` its field's ``Meta`` gives, and an enum by its values.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

_TYPE_WORDS = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "decimal": "a number",
    "bool": "true or false",
    "object": "a JSON object",
    "array": "a list",
    "null": "null",
    "datetime": "a date and time (ISO 8601)",
    "date": "a date (YYYY-MM-DD)",
    "time": "a time of day",
    "uuid": "a UUID",
    "bytes": "base64 text",
}
_COMPARISONS = {">=": "at least", ">": "greater than", "<=": "at most", "<": "less than"}


def describe_validation(
    request: Request[Any, Any, Any], exc: ValidationException
) -> tuple[str, str | None]:
    """The failure as plain words naming each field, and the first field's name."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    described = [_problem(request, p) for p in extra if isinstance(p, dict)]
    if not described:
        return "The request does not fit this route's rules", None
    return "; ".join(f"{field}: {words}" for field, words in described), described[0][0]


def _problem(request: Request[Any, Any, Any], problem: dict[str, Any]) -> tuple[str, str]:
    key = str(problem.get("key") or "")
    message = str(problem.get("message", "is not valid"))
    if m := re.fullmatch(r"Object missing required field `([^`]+)`", message):
        return _join(key, m[1]), "is required"
    if m := re.fullmatch(r"Object contains unknown field `([^`]+)`", message):
        return _join(key, m[1]), "is not a field of this request"
    if key in ("", "data"):
        return "body", _plain(message, None)
    return key, _plain(message, _field_type(request, str(problem.get("source", "")), key))


def _join(parent: str, name: str) -> str:
    return name if parent in ("", "data") else f"{parent}.{name}"


def _type_words(types: str) -> str:
    return " or ".join(_TYPE_WORDS.get(t.strip(), t.strip()) for t in types.split("|"))


def _plain(message: str, field_type: Any) -> str:
    if m := re.fullmatch(r"Expected `str` of length (>=|<=) (\d+)", message):
        n = int(m[2])
        return f"must be {_COMPARISONS[m[1]]} {n} character{'s' if n != 1 else ''}"
    if m := re.fullmatch(r"Expected `(?:array|object)` of length (>=|<=) (\d+)", message):
        n = int(m[2])
        return f"must hold {_COMPARISONS[m[1]]} {n} item{'s' if n != 1 else ''}"
    if m := re.fullmatch(r"Expected `(\w+)` (>=|>|<=|<) (-?[\d.]+)", message):
        return f"must be {_type_words(m[1])} {_COMPARISONS[m[2]]} {m[3]}"
    if re.fullmatch(r"Expected `str` matching regex .*", message):
        description = _description(field_type)
        return f"must be {description}" if description else "is not in the expected form"
    if m := re.fullmatch(r"Expected `([^`]+)`, got `([^`]+)`", message):
        return f"must be {_type_words(m[1])}, not {_type_words(m[2])}"
    if m := re.fullmatch(r"Invalid enum value (.+)", message):
        values = _enum_values(field_type)
        if values:
            return f"must be one of {', '.join(values)}, not {m[1]}"
        return f"{m[1]} is not one of the accepted values"
    if re.fullmatch(r"Invalid decimal string", message):
        return f"must be {_TYPE_WORDS['decimal']}"
    if re.fullmatch(r"Invalid RFC3339 encoded datetime", message):
        return f"must be {_TYPE_WORDS['datetime']}"
    if re.fullmatch(r"Invalid (?:ISO 8601 )?(?:encoded )?date", message, re.IGNORECASE):
        return f"must be {_TYPE_WORDS['date']}"
    return message.replace("`", "")


def _field_type(request: Request[Any, Any, Any], source: str, key: str) -> Any:
    """msgspec's view of the type at ``key``: in the body's Struct, or the parameter's."""
    try:
        parameters = request.route_handler.parsed_fn_signature.parameters
    except Exception:
        return None
    parts = re.findall(r"[^.\[\]]+", key)
    if source == "body":
        root = parameters.get("data")
    else:
        root = parameters.get(parts[0]) if parts else None
        parts = parts[1:]
    if root is None:
        return None
    try:
        node: Any = msgspec.inspect.type_info(root.annotation)
    except (TypeError, ValueError):
        return None
    for part in parts:
        node = _unwrap(node)
        if isinstance(node, msgspec.inspect.StructType | msgspec.inspect.DataclassType):
            node = next((f.type for f in node.fields if f.encode_name == part), None)
        elif isinstance(node, msgspec.inspect.ListType | msgspec.inspect.SetType):
            node = node.item_type
        elif isinstance(node, msgspec.inspect.DictType):
            node = node.value_type
        else:
            return None
        if node is None:
            return None
    return node


def _description(node: Any) -> str | None:
    while node is not None:
        if isinstance(node, msgspec.inspect.Metadata):
            described = (node.extra_json_schema or {}).get("description")
            if described:
                return str(described)
            node = node.type
        elif isinstance(node, msgspec.inspect.UnionType):
            node = _first_not_none(node)
        else:
            return None
    return None


def _enum_values(node: Any) -> list[str]:
    node = _unwrap(node)
    if isinstance(node, msgspec.inspect.EnumType):
        return [repr(member.value) for member in node.cls]
    if isinstance(node, msgspec.inspect.LiteralType):
        return [repr(value) for value in node.values]
    return []


def _unwrap(node: Any) -> Any:
    while True:
        if isinstance(node, msgspec.inspect.Metadata):
            node = node.type
        elif isinstance(node, msgspec.inspect.UnionType):
            node = _first_not_none(node)
        else:
            return node


def _first_not_none(union: msgspec.inspect.UnionType) -> Any:
    return next((t for t in union.types if not isinstance(t, msgspec.inspect.NoneType)), None)
