"""The ComfyUI-compatible HTTP/WebSocket server.

``serve_command`` wires it: services -> :class:`PlexusServer` (created first, so plugin packs can
add routes to ``server.routes`` while they import) -> registry (built-ins + plugins) -> durable
queue (``<user dir>/plexus_queue.sqlite3``) -> worker pool -> aiohttp site. Every API route is
also served under ``/api``. No torch import on this path: the editor and ``/object_info`` answer
within about a second of launch.

Websocket events (see ``web/ws_hub.py`` and ``web/previews.py``) are the ComfyUI ones, sent to
the client that submitted the prompt (everyone when it gave no ``client_id``). Additions:
``warning`` (``{node, message, prompt_id}``) for a node's non-fatal warnings; ``status`` is
coalesced to one broadcast per loop turn; ``progress_state`` is sent with each ``progress`` and
carries only the node that moved (not the whole graph, so traffic stays linear in the nodes).
"""
from __future__ import annotations

import asyncio
import functools
import struct
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

from execution.events import Event, Executing, ImageFrame, Progress, Text, Warning_
from execution.jobs.queue import JobOutcome, JobQueue, QueuedJob
from execution.jobs.worker import WorkerPool
from web.console import JobConsole
from web.log_buffer import LogBuffer
from web.outbox import LoopOutbox
from web.previews import encode_preview, png_frame, preview_frame, preview_metadata_frame, text_frame
from web.routes.files import file_routes
from web.routes.i18n import i18n_routes
from web.routes.info import info_routes
from web.routes.jobs import jobs_routes
from web.routes.library import library_routes
from web.routes.logs import logs_routes
from web.routes.templates import templates_routes
from web.routes.queue import queue_routes
from web.routes.static import static_routes
from web.routes.user import user_routes
from web.routes.user_defaults import prepare_user_storage, user_defaults_routes
from web.errors import ErrorRedactor
from web.security import security_middlewares
from web.ws_hub import ClientConnection, WebSocketHub

QUEUE_DB_NAME = "plexus_queue.sqlite3"
# Every API route is served bare, under /api (ComfyUI's), and under /plexus (the Plexus editor's
# relative URLs when it is opened at /plexus/).
API_PREFIXES = ("", "/api", "/plexus", "/plexus/api")


class PlexusServer:
    """The aiohttp app, the websocket hub and the hooks the workers report to.

    Plugins see ComfyUI's ``PromptServer`` surface: ``routes``, ``app``, ``loop``,
    ``send_sync(event, data, sid)``, ``client_id``, ``last_node_id``.
    """

    def __init__(self, services: Any, *, auth_token: str | None = None, cors_origin: str | None = None,
                 max_upload_mb: float = 100.0, loop: asyncio.AbstractEventLoop | None = None,
                 loopback_only: bool = True, frontend: Any = None, allowed_hosts: list[str] | None = None,
                 verbose_errors: bool = False, ws_client_buffer_mb: float = 16.0,
                 ws_total_buffer_mb: float = 256.0) -> None:
        self.services = services
        if frontend is None:
            from web.frontends.plexus_editor import PlexusEditor

            frontend = PlexusEditor()
        self.frontend = frontend  # what `/` serves (web/frontends/)
        self.loop = loop or asyncio.new_event_loop()
        self.routes = web.RouteTableDef()
        self.max_upload_bytes = int(max_upload_mb * 1024 * 1024)
        self.verbose_errors = verbose_errors
        self.redactor = ErrorRedactor(_local_roots(services))
        self.app = web.Application(middlewares=security_middlewares(
            auth_token, cors_origin, loopback_only, allowed_hosts, verbose_errors),
            client_max_size=self.max_upload_bytes)
        self.hub = WebSocketHub(self.loop, server_flags={"max_upload_size": self.max_upload_bytes},
                                max_client_bytes=int(ws_client_buffer_mb * 1024 * 1024),
                                max_total_bytes=int(ws_total_buffer_mb * 1024 * 1024),
                                redact_error=None if verbose_errors else self.redactor.error)
        self.logs = LogBuffer(notify=lambda sids: self.post(self._flush_logs))
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.last_prompt_id: str | None = None
        self.console = JobConsole()
        self.registry: Any = None
        self.plugin_report: Any = None
        self.queue: JobQueue | None = None
        self.pool: WorkerPool | None = None
        self._status_scheduled = False
        self._loop_thread: int | None = None
        # Calls posted from worker threads, run on the loop in order with few wake-ups (web/outbox.py).
        self._outbox = LoopOutbox(self.loop, self._job_running)

    # -- wiring ----------------------------------------------------------------------------------
    def attach(self, registry: Any, plugin_report: Any, queue: JobQueue, pool: WorkerPool) -> None:
        self.registry, self.plugin_report, self.queue, self.pool = registry, plugin_report, queue, pool
        self._add_routes()

    def _add_routes(self) -> None:
        router = self.app.router
        for prefix in API_PREFIXES:
            router.add_get(prefix + "/ws", self.websocket)
        tables = (queue_routes(self), jobs_routes(self), info_routes(self), file_routes(self),
                  user_defaults_routes(self), user_routes(self),  # defaults first: they win over /userdata/{file}
                  library_routes(self), logs_routes(self), templates_routes(self), i18n_routes(self))
        for table in tables:
            for method, path, handler in table:
                for prefix in API_PREFIXES:
                    router.add_route(method, prefix + path, handler)
        for method, path, handler in static_routes(self):
            router.add_route(method, path, handler)
        for route in self.routes:  # plugin routes, registered while the packs imported
            try:
                if isinstance(route, web.StaticDef):
                    router.add_static(route.prefix, route.path, **route.kwargs)
                    continue
                if not isinstance(route, web.RouteDef):
                    continue
                for prefix in API_PREFIXES:
                    router.add_route(route.method, prefix + route.path, route.handler, **route.kwargs)
            except (RuntimeError, ValueError) as exc:  # a clash with a built-in route: the built-in wins
                print(f"[plexus] plugin route {route!r} not added: {exc}", file=sys.stderr)
        for method, path, handler in self.frontend.root_routes():  # last: a site's catch-all
            router.add_route(method, path, handler)

    def _flush_logs(self) -> None:
        entries = self.logs.take_pending()
        if entries:
            size = self.logs.terminal_size()
            data = {"entries": entries, "size": size}
            for sid in self.logs.subscribed():
                client = self.hub.clients.get(sid)  # a client that is not connected gets nothing
                if client is not None and not (client.loopback or self.verbose_errors):
                    self.hub.send_json("logs", {"entries": self.redactor.log_entries(entries), "size": size}, sid)
                else:
                    self.hub.send_json("logs", data, sid)

    def feature_flags(self) -> dict:
        return dict(self.hub.server_flags)

    def status_data(self) -> dict:
        return {"exec_info": {"queue_remaining": self.queue.remaining()}}

    # -- sending ---------------------------------------------------------------------------------
    def send_sync(self, event_type: str | int, data: Any, sid: str | None = None) -> None:
        """Send an event to one client (``sid``) or everyone; callable from any thread.

        ComfyUI's binary form works too: an int ``event_type`` with bytes (framed as is), or
        ``2`` (an unencoded preview) with ``(format, PIL image, max_size)``, sent as a JPEG preview.
        """
        if isinstance(event_type, int):
            if event_type == 2 and isinstance(data, (tuple, list)) and len(data) >= 2:
                max_side = data[2] if len(data) > 2 and data[2] else self.services.preview_max_side
                jpeg = encode_preview(data[1], max_side)
                frame = preview_frame(jpeg) if jpeg else None
            elif isinstance(data, (bytes, bytearray)):
                frame = struct.pack(">I", event_type) + bytes(data)
            else:
                frame = None
            if frame is not None:
                self.post(self.hub.send_bytes, frame, sid)
            return
        self.post(self.hub.send_json, event_type, data, sid)  # in order with the prompt's own events

    def post(self, fn: Callable, *args: Any) -> None:
        """Run ``fn(*args)`` on the loop at once, in order; callable from any thread (``_post_later``
        for what may wait for the next urgent post or a running job's drain timer)."""
        self._outbox.post(fn, *args)

    def _job_running(self) -> bool:
        return self.pool is not None and any(worker.current is not None for worker in self.pool.workers)

    def queue_changed(self) -> None:
        """Broadcast ``status`` (coalesced until it is sent); callable from any thread."""
        if threading.get_ident() == self._loop_thread:
            self._schedule_status()
        else:  # sent in the drain itself, so it shares one socket write with the job's ending
            self.post(self._broadcast_status)

    def _schedule_status(self) -> None:
        if not self._status_scheduled:  # goes out with the running job's events, or at once when idle
            self._status_scheduled = True
            self._outbox.post_from_loop(self._broadcast_status)

    def _broadcast_status(self) -> None:
        self._status_scheduled = False
        if self._outbox.queued(self._broadcast_status):
            return  # a later status is already queued behind this one and will carry the newer count
        self.hub.send_json("status", {"status": self.status_data()})

    # -- worker hooks (worker threads) -----------------------------------------------------------
    def job_started(self, job: QueuedJob) -> None:
        self.last_prompt_id = job.prompt_id
        self.console.job_started(job.prompt_id)

    def job_finished(self, job: QueuedJob, outcome: JobOutcome) -> None:
        self.console.job_finished(job.prompt_id, outcome.status, outcome.error)
        journal = getattr(self.services, "output_journal", None)
        if journal is not None:  # history and disk agree (models.output_journal)
            journal.settle(job.prompt_id, outcome.outputs, self.services.paths.folder_for_type)
        self.queue_changed()  # last: this urgent post carries the job's ending with it (one wake-up)

    def job_event(self, job: QueuedJob, event: Event) -> None:
        sid = job.client_id
        call = self._post_later
        if isinstance(event, Progress):
            call(self.hub.send_json, "progress", event.data(), sid)
            call(self.hub.send_json, "progress_state", _progress_state(event), sid)
            if event.preview is not None and self.services.preview_method != "none":
                self._send_preview(job, event, sid)
        elif isinstance(event, Text):  # streamed text (VLM tokens) is read as it comes: sent at once
            self.post(self.hub.send_bytes, text_frame(event.node, event.text), sid)
        elif isinstance(event, ImageFrame):
            self._send_image(job, event, sid)
        elif isinstance(event, Warning_):
            call(self.hub.send_json, "warning", event.data(), sid)
        else:
            if isinstance(event, Executing):
                self.last_node_id = event.node
            # The job's events wait (at most the outbox's drain delay) for the next urgent post: the
            # status that follows every ending (web/outbox.py).
            call(self.hub.send_json, event.type, event.data(), sid)

    def _post_later(self, fn: Callable, *args: Any) -> None:
        self._outbox.post(fn, *args, urgent=False)

    def job_queued(self) -> None:
        """A prompt was queued (loop thread): wake the workers once this turn's answers are written
        (the worker then does not fight the loop for the GIL), and let the job's first events wait
        for the drain timer instead of waking the loop."""
        self._outbox.expect()
        self.loop.call_soon(self.pool.wake)

    def _send_preview(self, job: QueuedJob, event: Progress, sid: str | None) -> None:
        jpeg = encode_preview(event.preview, getattr(self.services, "preview_max_side", 512))
        if jpeg is None:
            return
        plain = preview_frame(jpeg)
        with_metadata = preview_metadata_frame(jpeg, node_id=event.node, prompt_id=job.prompt_id)

        def frame_for(client: ClientConnection) -> bytes:
            return with_metadata if client.wants_preview_metadata else plain

        self._post_later(functools.partial(self.hub.send_bytes, frame_for, sid, lossy=True))

    def _send_image(self, job: QueuedJob, event: ImageFrame, sid: str | None) -> None:
        """SaveImageWebsocket's full-size PNG: never dropped, type 4 for clients that asked for metadata."""
        plain = png_frame(event.png)
        with_metadata = preview_metadata_frame(event.png, node_id=event.node, prompt_id=job.prompt_id,
                                               image_type="image/png")

        def frame_for(client: ClientConnection) -> bytes:
            return with_metadata if client.wants_preview_metadata else plain

        self._post_later(functools.partial(self.hub.send_bytes, frame_for, sid))

    # -- websocket -------------------------------------------------------------------------------
    async def websocket(self, request: web.Request) -> web.StreamResponse:
        def on_connect(client: ClientConnection) -> None:
            self.hub.send_json("status", {"status": self.status_data(), "sid": client.sid}, client.sid)
            job_id = self.last_prompt_id
            if self.last_node_id is not None and job_id in (self.pool.running_ids() if self.pool else []):
                self.hub.send_json("executing", {"node": self.last_node_id, "display_node": self.last_node_id,
                                                 "prompt_id": job_id}, client.sid)

        return await self.hub.handle(request, on_connect)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self, hosts: list[str], port: int) -> web.AppRunner:
        self._loop_thread = threading.get_ident()
        self.logs.capture_console()
        prepare_user_storage(self.services.paths.user_dir)
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        for host in hosts:
            await web.TCPSite(runner, host, port, reuse_address=True).start()
        return runner


def _local_roots(services: Any) -> list[str]:
    """Absolute paths of this machine that remote clients need not see in error messages."""
    paths = getattr(services, "paths", None)
    roots = [sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parents[1]), str(Path.home())]
    if paths is not None:
        roots += [str(p) for p in (paths.base_dir, paths.models_dir, paths.input_dir, paths.output_dir,
                                   paths.temp_dir, paths.user_dir)]
    return roots


def _progress_state(event: Progress) -> dict:
    """``progress_state`` for the one node that moved (linear traffic, unlike a full-graph snapshot)."""
    state = "finished" if event.max and event.value >= event.max else "running"
    return {"prompt_id": event.prompt_id, "nodes": {event.node: {
        "value": event.value, "max": event.max, "state": state, "node_id": event.node,
        "prompt_id": event.prompt_id, "display_node_id": event.node, "parent_node_id": None,
        "real_node_id": event.node}}}
