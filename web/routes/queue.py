"""Prompt, queue, interrupt, free and history routes (ComfyUI shapes); jobs are in ``jobs.py``."""
from __future__ import annotations

import json
import math
import re
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterable

from aiohttp import web

from execution.jobs.history import plain_number
from execution.jobs.queue import DuplicatePromptId, InvalidJob
from execution.validate import error as validation_error, validate_prompt
from execution.subgraph_expand import expand_for_editor
from execution.workflow import convert_workflow, is_editor_workflow
from web.errors import is_loopback_peer
from web.json_body import read_json

if TYPE_CHECKING:
    from web.server import PlexusServer

PROMPT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_CLIENT_ID_LENGTH = 256
MAX_QUEUE_NUMBER = 2.0 ** 53  # integers beyond this are not exact in JSON readers


def _bad_request(error: dict, node_errors: dict | None = None) -> web.Response:
    return web.json_response({"error": error, "node_errors": node_errors or {}}, status=400)


def _int_query(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from exc
    if not 0 <= number <= 2 ** 62:  # SQLite's integers are 64-bit
        raise web.HTTPBadRequest(text=f"{name} is out of range")
    return number


def _dumped(prompt_id: str, entry: Any, on_unreadable: Callable[[str, str], None]) -> str | None:
    """``entry`` as JSON; None (and reported) when a stored job cannot be serialised (nested too
    deep, from before the depth limit): one bad row never fails a whole listing."""
    try:
        return json.dumps(entry, allow_nan=False)
    except (RecursionError, ValueError, TypeError) as exc:
        on_unreadable(prompt_id, f"stored job cannot be serialised: {type(exc).__name__}")
        return None


def _json_of_entries(entries: dict, on_unreadable: Callable[[str, str], None]) -> web.Response:
    parts = [f"{json.dumps(key)}: {text}" for key, entry in entries.items()
             if (text := _dumped(key, entry, on_unreadable)) is not None]
    return web.Response(text="{" + ", ".join(parts) + "}", content_type="application/json")


def queue_routes(server: "PlexusServer") -> list[tuple[str, str, Any]]:
    queue = server.queue

    async def get_prompt(request: web.Request) -> web.Response:
        return web.json_response(server.status_data())

    async def post_prompt(request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            return _bad_request(validation_error("invalid_prompt", "The body must be a JSON object"))
        prompt = body.get("prompt")
        if prompt is None:
            return _bad_request(validation_error("no_prompt", "No prompt provided"))
        prompt_id = body.get("prompt_id") or str(uuid.uuid4())
        if not isinstance(prompt_id, str) or not PROMPT_ID_PATTERN.match(prompt_id):
            return _bad_request(validation_error("invalid_prompt", "prompt_id must be a short plain string",
                                                 str(prompt_id)[:200]))
        client_id = body.get("client_id")
        if client_id is not None and (not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID_LENGTH):
            return _bad_request(validation_error("invalid_prompt", "client_id must be a short string"))
        number = body.get("number")
        if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))
                                   or not math.isfinite(number) or abs(number) > MAX_QUEUE_NUMBER):
            return _bad_request(validation_error("invalid_prompt", "number must be a finite number",
                                                 f"at most {MAX_QUEUE_NUMBER:.0f} in size"))
        extra_data = body.get("extra_data") or {}
        if not isinstance(extra_data, dict):
            return _bad_request(validation_error("invalid_prompt", "extra_data must be an object"))
        if is_editor_workflow(prompt):  # Plexus extension: editor JSON (subgraphs too) is converted here
            try:
                prompt = convert_workflow(prompt, server.registry).prompt
            except Exception as exc:  # noqa: BLE001 - WorkflowError, or a malformed document: the client's error
                return _bad_request(validation_error("invalid_prompt", "Cannot convert the editor workflow",
                                                     f"{type(exc).__name__}: {exc}"[:500]))
            pnginfo = dict(extra_data.get("extra_pnginfo") or {})
            pnginfo.setdefault("workflow", body["prompt"])
            extra_data = dict(extra_data, extra_pnginfo=pnginfo)
        targets = body.get("partial_execution_targets")
        if targets is not None and not isinstance(targets, list):
            return _bad_request(validation_error("invalid_prompt", "partial_execution_targets must be a list"))
        try:
            result = validate_prompt(prompt, server.registry, server.services, targets)
        except Exception as exc:  # noqa: BLE001 - a plugin's validation bug is a bad prompt, not a 500
            return _bad_request(validation_error("invalid_prompt", "Exception while validating the prompt",
                                                 f"{type(exc).__name__}: {exc}"))
        if not result.ok:
            server.console.invalid_prompt(result.response())
            return web.json_response(result.response(), status=400)
        if client_id is not None:
            extra_data = dict(extra_data, client_id=client_id)
            server.client_id = client_id
        fields = dict(number=float(number) if number is not None else None, front=bool(body.get("front")),
                      client_id=client_id)
        try:
            # An idle worker takes the job as it is stored (one statement); otherwise it waits in line.
            started = server.pool.start_directly(lambda worker_id, lease_seconds: queue.enqueue_running(
                prompt_id, result.prompt, extra_data, result.outputs, worker_id=worker_id,
                lease_seconds=lease_seconds, **fields))
            stored = started.number if started is not None else \
                queue.enqueue(prompt_id, result.prompt, extra_data, result.outputs, **fields)
        except DuplicatePromptId:  # a retried POST: the job is already stored, never twice
            stored = queue.number_of(prompt_id)
        except InvalidJob as exc:  # acknowledged only once stored: anything else is the request's fault
            return _bad_request(validation_error("invalid_prompt", "The job could not be stored", str(exc)))
        server.console.got_prompt(prompt_id, client_id, len(result.prompt))
        server.job_queued()
        server.queue_changed()
        return web.json_response({"prompt_id": prompt_id, "number": plain_number(stored) if stored is not None else None,
                                  "node_errors": result.node_errors})

    async def post_expand_subgraphs(request: web.Request) -> web.Response:
        """Plexus's editor opens subgraph workflows through this: instances expanded into groups."""
        body = await read_json(request)
        if not is_editor_workflow(body):
            return _bad_request(validation_error("invalid_prompt", "Expected an editor workflow (nodes, links)"))
        try:
            return web.json_response(expand_for_editor(body, server.registry))
        except Exception as exc:  # noqa: BLE001 - a broken, cyclic or malformed subgraph definition
            return _bad_request(validation_error("invalid_prompt", "Cannot expand the subgraphs",
                                                 f"{type(exc).__name__}: {exc}"[:500]))

    async def get_queue(request: web.Request) -> web.Response:
        running_on = {w["running"]: {k: w.get(k) for k in ("worker_id", "actor", "hostname", "node_ip", "device")
                                      if k in w} for w in server.pool.describe() if w.get("running")}
        return web.json_response({"queue_running": [j.queue_item() for j in queue.running()],
                                  "queue_pending": [j.queue_item() for j in queue.pending()],
                                  "running_on": running_on})  # prompt id -> the worker running it

    async def clear_or_delete(request: web.Request, clear: Callable[[], Any],
                              delete: Callable[[Iterable[str]], Any]) -> None:
        """The ``{"clear": true}`` / ``{"delete": [ids]}`` body shared by /queue and /history."""
        body = await read_json(request)
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected an object")
        if body.get("clear"):
            clear()
        if isinstance(body.get("delete"), list):
            delete(str(i) for i in body["delete"])

    async def post_queue(request: web.Request) -> web.Response:
        await clear_or_delete(request, queue.clear_pending, queue.delete_pending)
        server.queue_changed()
        return web.Response(status=200)

    async def post_interrupt(request: web.Request) -> web.Response:
        prompt_id = None
        if request.can_read_body:
            body = await read_json(request)
            if isinstance(body, dict) and body.get("prompt_id"):
                prompt_id = str(body["prompt_id"])
        server.pool.interrupt(prompt_id)
        return web.Response(status=200)

    async def post_free(request: web.Request) -> web.Response:
        body = await read_json(request) if request.can_read_body else {}
        body = body if isinstance(body, dict) else {}
        server.pool.request_free(bool(body.get("unload_models")), bool(body.get("free_memory")))
        return web.Response(status=200)

    def for_client(request: web.Request, history: dict) -> dict:
        if server.verbose_errors or is_loopback_peer(request):
            return history
        return server.redactor.history(history)

    async def get_history(request: web.Request) -> web.Response:
        history = queue.history(_int_query(request, "max_items"), _int_query(request, "offset"))
        return _json_of_entries(for_client(request, history), queue.quarantine)

    async def get_history_item(request: web.Request) -> web.Response:
        history = queue.history(prompt_id=request.match_info["prompt_id"])
        return _json_of_entries(for_client(request, history), queue.quarantine)

    async def post_history(request: web.Request) -> web.Response:
        await clear_or_delete(request, queue.clear_history, queue.delete_history)
        return web.Response(status=200)

    return [
        ("GET", "/prompt", get_prompt), ("POST", "/prompt", post_prompt),
        ("GET", "/queue", get_queue), ("POST", "/queue", post_queue),
        ("POST", "/interrupt", post_interrupt), ("POST", "/free", post_free),
        ("GET", "/history", get_history), ("POST", "/history", post_history),
        ("GET", "/history/{prompt_id}", get_history_item),
        ("POST", "/workflow/expand_subgraphs", post_expand_subgraphs),
    ]
