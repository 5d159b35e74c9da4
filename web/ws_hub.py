"""The websocket hub: connected clients, per-client send queues, thread-safe sending.

Every client has its own queue and sender task, so a slow or dead client only ever delays
itself: producers never await a socket. A client whose backlog passes ``max_backlog`` messages or
``max_backlog_bytes`` is disconnected (it would never catch up, and memory stays bounded);
preview frames are lossy and dropped early, once the backlog passes ``preview_backlog``.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Callable

from aiohttp import WSMsgType, web

SERVER_FEATURE_FLAGS = {"supports_preview_metadata": True}


class ClientConnection:
    __slots__ = ("sid", "ws", "queue", "feature_flags", "task", "closed", "pending_bytes")

    def __init__(self, sid: str, ws: web.WebSocketResponse) -> None:
        self.sid = sid
        self.ws = ws
        self.queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.feature_flags: dict = {}
        self.task: asyncio.Task | None = None
        self.closed = False
        self.pending_bytes = 0

    @property
    def wants_preview_metadata(self) -> bool:
        return bool(self.feature_flags.get("supports_preview_metadata"))


class WebSocketHub:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_backlog: int = 20000,
                 max_backlog_bytes: int = 16 << 20, preview_backlog: int = 32,
                 server_flags: dict | None = None) -> None:
        self.loop = loop
        self.max_backlog = max_backlog
        self.max_backlog_bytes = max_backlog_bytes
        self.dropped_clients = 0
        self.preview_backlog = preview_backlog
        self.server_flags = dict(SERVER_FEATURE_FLAGS, **(server_flags or {}))
        self.clients: dict[str, ClientConnection] = {}

    # -- sending (loop thread) -------------------------------------------------------------------
    def send_json(self, event_type: str, data: Any, sid: str | None = None) -> None:
        message = json.dumps({"type": event_type, "data": data}, default=str)
        for client in self._targets(sid):
            self._put(client, message)

    def send_bytes(self, frame: bytes | Callable[[ClientConnection], bytes | None], sid: str | None = None,
                   *, lossy: bool = False) -> None:
        """A binary frame; ``frame`` may be a function of the client (for per-client formats)."""
        for client in self._targets(sid):
            if lossy and client.queue.qsize() > self.preview_backlog:
                continue
            payload = frame(client) if callable(frame) else frame
            if payload is not None:
                self._put(client, payload)

    def send_sync(self, event_type: str, data: Any, sid: str | None = None) -> None:
        """Thread-safe ``send_json`` (plugins call it from node code)."""
        if isinstance(data, (bytes, bytearray)):
            self.loop.call_soon_threadsafe(self.send_bytes, bytes(data), sid)
        else:
            self.loop.call_soon_threadsafe(self.send_json, event_type, data, sid)

    def _targets(self, sid: str | None) -> list[ClientConnection]:
        if sid is None:
            return list(self.clients.values())
        client = self.clients.get(sid)
        return [client] if client is not None else []

    def _put(self, client: ClientConnection, message: str | bytes) -> None:
        if client.closed:
            return
        if client.queue.qsize() >= self.max_backlog or client.pending_bytes > self.max_backlog_bytes:
            self._drop(client)  # hopelessly behind: disconnect instead of buffering forever
            return
        client.pending_bytes += len(message)
        client.queue.put_nowait(message)

    def _drop(self, client: ClientConnection) -> None:
        self.dropped_clients += 1
        client.closed = True
        if self.clients.get(client.sid) is client:
            del self.clients[client.sid]
        if client.task is not None:
            client.task.cancel()
        asyncio.ensure_future(_close_quietly(client.ws))

    # -- one connection --------------------------------------------------------------------------
    async def handle(self, request: web.Request, on_connect: Callable[[ClientConnection], None]
                     ) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        client = ClientConnection(sid, ws)
        previous = self.clients.get(sid)
        self.clients[sid] = client
        if previous is not None:
            self._drop(previous)
        client.task = asyncio.ensure_future(self._sender(client))
        try:
            on_connect(client)
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_text(client, message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            client.closed = True
            if self.clients.get(sid) is client:
                del self.clients[sid]
            if client.task is not None:
                client.task.cancel()
        return ws

    def _on_text(self, client: ClientConnection, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if isinstance(message, dict) and message.get("type") == "feature_flags":
            data = message.get("data")
            client.feature_flags = data if isinstance(data, dict) else {}
            self._put(client, json.dumps({"type": "feature_flags", "data": self.server_flags}))

    async def _sender(self, client: ClientConnection) -> None:
        ws = client.ws
        try:
            while True:
                message = await client.queue.get()
                client.pending_bytes -= len(message)
                if isinstance(message, str):
                    await ws.send_str(message)
                else:
                    await ws.send_bytes(message)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        except Exception:  # noqa: BLE001 - one client's failure stays with that client
            pass
        finally:
            client.closed = True

    async def close_all(self) -> None:
        for client in list(self.clients.values()):
            self._drop(client)


async def _close_quietly(ws: web.WebSocketResponse) -> None:
    try:
        await ws.close()
    except Exception:  # noqa: BLE001
        pass
