"""Request bodies as strict, shallow JSON, checked at the door.

Anything stored must serialise back: ``NaN``, ``Infinity`` and numbers that overflow to infinity
(``1e999``) are refused, and so is nesting deeper than ``MAX_JSON_DEPTH`` (a 975-level prompt
once made ``/history`` fail until it was cleared). The depth check costs O(size) in C for every
body (counting brackets), and walks the parsed containers only when there are enough brackets to
be that deep.
"""
from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from execution.jobs.rows import json_depth_exceeds

MAX_JSON_DEPTH = 100


def error_body(error_type: str, message: str, details: str = "") -> dict:
    """ComfyUI's error shape (as ``POST /prompt`` answers it)."""
    return {"error": {"type": error_type, "message": message, "details": details, "extra_info": {}},
            "node_errors": {}}


def bad_request(message: str, details: str = "", error_type: str = "invalid_prompt") -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps(error_body(error_type, message, details)),
                              content_type="application/json")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def loads_strict(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN, Infinity and overflowing numbers."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


async def read_json(request: web.Request, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The body as JSON; a 400 in ComfyUI's error shape when it is not strict, shallow JSON."""
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
        value = loads_strict(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad_request("Invalid JSON body", str(exc)[:300]) from exc
    if isinstance(value, (dict, list)) and json_depth_exceeds(text, value, max_depth):
        raise bad_request("JSON nested too deeply", f"more than {max_depth} levels")
    return value
