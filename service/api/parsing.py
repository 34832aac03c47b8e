"""Strict JSON request bodies: no duplicate keys, no ``Infinity``/``NaN``, no nesting too deep to parse.

Python's :func:`json.loads` keeps the last of duplicate keys, accepts the
non-standard constants ``Infinity``, ``-Infinity`` and ``NaN``, and raises
:class:`RecursionError` on a deeply nested body. :func:`parse_json` refuses
all three with a 422 problem naming the path of each offending key or value
(``park.batteries.b1: duplicate key``). :class:`StrictJsonRoute` parses every
JSON request body of a route with it before FastAPI validates the body; each
router of the service is declared with ``route_class=StrictJsonRoute``.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from microgrid.messages import Message
from service.api.problems import InvalidInput

MAX_REPORTED = 10
"""Most problems one answer lists."""


class _DuplicateKeys(dict):
    """A JSON object that had duplicate keys (the last value kept, as :func:`json.loads` does)."""

    duplicates: list[str]


class _NonFinite:
    """A non-standard constant (``Infinity``, ``-Infinity``, ``NaN``) where a number was expected."""

    def __init__(self, name: str) -> None:
        self.name = name


def _path(parts: tuple) -> str:
    return ".".join(str(p) for p in parts)


def find_problems(value: Any) -> list[dict[str, str]]:
    """Each duplicate key and non-finite constant of a parsed body, by path (iterative: any depth).

    Examples
    --------
    >>> find_problems({"park": _marked({"b1": 1}, ["b1"]), "x": [_NonFinite("NaN")]})
    [{'field': 'park.b1', 'reason': 'duplicate key; give each key once'}, {'field': 'x.0', 'reason': 'NaN is not a number JSON allows; give a finite number'}]
    """
    problems: list[dict[str, str]] = []
    stack: list[tuple[tuple, Any]] = [((), value)]
    while stack and len(problems) < MAX_REPORTED:
        path, item = stack.pop()
        if isinstance(item, _NonFinite):
            problems.append({"field": _path(path) or "(body)",
                             "reason": Message("{name} is not a number JSON allows; give a finite number",
                                               name=item.name)})
        elif isinstance(item, dict):
            if isinstance(item, _DuplicateKeys):
                problems.extend({"field": _path(path + (key,)), "reason": Message("duplicate key; give each key once")}
                                for key in dict.fromkeys(item.duplicates))
            stack.extend((path + (key,), child) for key, child in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((path + (index,), child) for index, child in reversed(list(enumerate(item))))
    return problems[:MAX_REPORTED]


def _marked(obj: dict, duplicates: list[str]) -> _DuplicateKeys:
    marked = _DuplicateKeys(obj)
    marked.duplicates = duplicates
    return marked


def parse_json(body: bytes | str) -> Any:
    """The JSON value of ``body``, refusing duplicate keys, non-finite constants and too deep nesting.

    Raises
    ------
    json.JSONDecodeError
        ``body`` is not JSON at all (FastAPI answers that one itself).
    InvalidInput
        A duplicate key, ``Infinity``/``-Infinity``/``NaN``, or nesting too
        deep to parse; the errors name each path.

    Examples
    --------
    >>> parse_json(b'{"soc_kwh": {"b1": 1200}}')
    {'soc_kwh': {'b1': 1200}}
    >>> parse_json(b'{"b1": 99999, "b1": 1200}')
    Traceback (most recent call last):
    ...
    service.api.problems.InvalidInput: b1: duplicate key; give each key once
    """
    flagged = False

    def pairs(items: list[tuple[str, Any]]) -> dict:
        nonlocal flagged
        obj: dict = {}
        duplicates = []
        for key, value in items:
            if key in obj:
                duplicates.append(key)
            obj[key] = value
        if duplicates:
            flagged = True
            return _marked(obj, duplicates)
        return obj

    def constant(name: str) -> _NonFinite:
        nonlocal flagged
        flagged = True
        return _NonFinite(name)

    try:
        value = json.loads(body, object_pairs_hook=pairs, parse_constant=constant)
    except RecursionError:
        reason = "nested too deeply to parse; a request body is a few levels of objects and lists"
        raise InvalidInput(Message("(body): {reason}", reason=reason),
                           errors=[{"field": "", "reason": reason}]) from None
    if flagged:
        problems = find_problems(value)
        raise InvalidInput("; ".join(f"{p['field']}: {p['reason']}" for p in problems), errors=problems)
    return value


def is_json(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` is JSON (``application/json`` or ``application/*+json``), as FastAPI decides."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is parsed by :func:`parse_json` (a 422 problem on its refusals).

    The parsed value is left where Starlette's ``Request.json()`` caches it,
    so FastAPI validates it without parsing the body again; a body that is not
    JSON at all is left to FastAPI's own answer.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            if is_json(request.headers.get("content-type")):
                body = await request.body()
                if body:
                    try:
                        request._json = parse_json(body)
                    except UnicodeDecodeError:
                        reason = "not UTF-8 text; send the JSON body encoded as UTF-8"
                        raise InvalidInput(Message("(body): {reason}", reason=reason),
                                           errors=[{"field": "", "reason": reason}]) from None
                    except json.JSONDecodeError:
                        pass  # not JSON at all: FastAPI parses it again and answers that itself (422)
            return await handler(request)

        return strict_handler
