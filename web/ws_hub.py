"""The websocket hub: connected clients, per-client send queues, thread-safe sending.

Every client has its own queue and sender task, so a slow or dead client only ever delays
itself: producers never await a socket. Memory stays bounded in bytes:

- a message is encoded once and shared by every client's queue;
- a client's pending bytes (its queue plus what its socket has not taken yet) stay under
  ``max_client_bytes`` (``--ws-client-buffer``): previews (lossy) are dropped first, once it has
  more than an eighth of that pending; a client that would pass the bound is disconnected (one
  message larger than the bound still goes to a client with nothing pending);
- all clients together stay under ``max_total_bytes`` (``--ws-total-buffer``);
- a send that the client does not take within ``send_timeout`` seconds disconnects it;
- without permessage-deflate (API clients), queued messages are framed here and written to the
  socket together: one system call per batch instead of one per message;
- a disconnect aborts the socket and empties the queue at once, so nothing stays held.
"""
from __future__ import annotations

import asyncio
import collections
import json
import struct
import uuid
from typing import Any, Callable

from aiohttp import WSMsgType, web

from execution.jobs.rows import storable_json

SERVER_FEATURE_FLAGS = {"supports_preview_metadata": True}
ENTRY_OVERHEAD = 64  # bytes a queued message costs beyond its payload (so tiny floods count too)
BATCH_BYTES = 256 << 10  # written to a socket at once; more waits for the client to read
DRAIN_POLL_SECONDS = 0.005


class ClientConnection:
    __slots__ = ("sid", "ws", "transport", "queue", "wake", "feature_flags", "task", "closed",
                 "queued_bytes", "loopback")

    def __init__(self, sid: str, ws: web.WebSocketResponse, transport: Any = None, loopback: bool = True) -> None:
        self.sid = sid
        self.ws = ws
        self.transport = transport
        self.queue: collections.deque[tuple[bytes, WSMsgType]] = collections.deque()
        self.wake = asyncio.Event()
        self.feature_flags: dict = {}
        self.task: asyncio.Task | None = None
        self.closed = False
        self.queued_bytes = 0
        self.loopback = loopback

    @property
    def wants_preview_metadata(self) -> bool:
        return bool(self.feature_flags.get("supports_preview_metadata"))

    def pending_bytes(self) -> int:
        """Queued here plus what the socket has not sent yet."""
        transport = self.transport
        in_socket = transport.get_write_buffer_size() if transport is not None and not transport.is_closing() else 0
        return self.queued_bytes + in_socket


class WebSocketHub:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_client_bytes: int = 16 << 20,
                 max_total_bytes: int = 256 << 20, send_timeout: float = 30.0,
                 server_flags: dict | None = None, redact_error: Callable[[Any], Any] | None = None) -> None:
        self.loop = loop
        self.max_client_bytes = max_client_bytes
        self.max_total_bytes = max_total_bytes
        self.preview_bytes = max(1, max_client_bytes // 8)
        self.send_timeout = send_timeout
        self.redact_error = redact_error  # execution errors as remote clients see them
        self.dropped_clients = 0
        self.server_flags = dict(SERVER_FEATURE_FLAGS, **(server_flags or {}))
        self.clients: dict[str, ClientConnection] = {}

    # -- sending (loop thread) -------------------------------------------------------------------
    def send_json(self, event_type: str, data: Any, sid: str | None = None) -> None:
        targets = self._targets(sid)
        if not targets:
            return
        message = _encode(event_type, data)
        redacted = None
        if event_type == "execution_error" and self.redact_error is not None:
            redacted = _encode(event_type, self.redact_error(data))
        total = self._total_pending()
        for client in targets:
            total += self._put(client, redacted if redacted is not None and not client.loopback else message,
                               WSMsgType.TEXT, lossy=False, total=total)

    def send_bytes(self, frame: bytes | Callable[[ClientConnection], bytes | None], sid: str | None = None,
                   *, lossy: bool = False) -> None:
        """A binary frame; ``frame`` may be a function of the client (for per-client formats)."""
        total = self._total_pending()
        for client in self._targets(sid):
            payload = frame(client) if callable(frame) else frame
            if payload is not None:
                total += self._put(client, bytes(payload), WSMsgType.BINARY, lossy=lossy, total=total)

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

    def _total_pending(self) -> int:
        return sum(client.pending_bytes() for client in self.clients.values())

    def _put(self, client: ClientConnection, message: bytes, opcode: WSMsgType, *, lossy: bool, total: int) -> int:
        """Queue ``message`` for ``client`` within the bounds; returns the bytes added."""
        if client.closed:
            return 0
        size = len(message) + ENTRY_OVERHEAD
        pending = client.pending_bytes()
        if lossy and (pending + size > self.preview_bytes or total + size > self.max_total_bytes):
            return 0  # a preview: the next one replaces it anyway
        if (pending and pending + size > self.max_client_bytes) or total + size > self.max_total_bytes:
            self._drop(client)  # it would never catch up: disconnect instead of buffering
            return 0
        client.queued_bytes += size
        client.queue.append((message, opcode))
        client.wake.set()
        return size

    def _drop(self, client: ClientConnection) -> None:
        if client.closed:
            return
        self.dropped_clients += 1
        self._release(client)
        if client.transport is not None:
            client.transport.abort()  # frees the socket's buffer now; a close handshake would wait on it
        asyncio.ensure_future(_close_quietly(client.ws))

    def _release(self, client: ClientConnection) -> None:
        client.closed = True
        if self.clients.get(client.sid) is client:
            del self.clients[client.sid]
        client.queue.clear()
        client.queued_bytes = 0
        if client.task is not None:
            client.task.cancel()

    # -- one connection --------------------------------------------------------------------------
    async def handle(self, request: web.Request, on_connect: Callable[[ClientConnection], None]
                     ) -> web.WebSocketResponse:
        from web.errors import is_loopback_peer

        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=1 << 20)
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        client = ClientConnection(sid, ws, request.transport, is_loopback_peer(request))
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
            self._release(client)
        return ws

    def _on_text(self, client: ClientConnection, text: str) -> None:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            return
        if isinstance(message, dict) and message.get("type") == "feature_flags":
            data = message.get("data")
            client.feature_flags = data if isinstance(data, dict) else {}
            self._put(client, _encode("feature_flags", self.server_flags), WSMsgType.TEXT, lossy=False,
                      total=self._total_pending())

    async def _sender(self, client: ClientConnection) -> None:
        ws = client.ws
        try:
            while not client.closed:
                if not client.queue:
                    client.wake.clear()
                    await client.wake.wait()
                    continue
                if ws.compress or client.transport is None:  # permessage-deflate: aiohttp frames it
                    message, opcode = client.queue.popleft()
                    client.queued_bytes -= len(message) + ENTRY_OVERHEAD
                    await asyncio.wait_for(ws.send_frame(message, opcode), self.send_timeout)
                else:
                    await self._send_batch(client)
        except asyncio.TimeoutError:
            self._drop(client)  # it stopped reading
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        except Exception:  # noqa: BLE001 - one client's failure stays with that client
            pass
        finally:
            client.closed = True

    async def _send_batch(self, client: ClientConnection) -> None:
        """Everything queued (up to ``BATCH_BYTES``), framed here and written to the socket at once:
        a prompt's events cost one system call, not one each. Then, while the socket holds more
        than ``BATCH_BYTES``, wait (at most ``send_timeout``) for the client to read."""
        frames, size = [], 0
        queue = client.queue
        while queue and size < BATCH_BYTES:
            message, opcode = queue.popleft()
            client.queued_bytes -= len(message) + ENTRY_OVERHEAD
            frames.append(_frame_header(len(message), opcode))
            frames.append(message)
            size += len(message)
        transport = client.transport
        if transport.is_closing() or client.ws.closed:
            raise ConnectionResetError("the websocket is closing")
        transport.write(b"".join(frames))
        waited = 0.0
        while transport.get_write_buffer_size() > BATCH_BYTES and not transport.is_closing():
            if waited >= self.send_timeout:
                raise asyncio.TimeoutError
            await asyncio.sleep(DRAIN_POLL_SECONDS)
            waited += DRAIN_POLL_SECONDS

    async def close_all(self) -> None:
        for client in list(self.clients.values()):
            self._drop(client)


def _frame_header(length: int, opcode: WSMsgType) -> bytes:
    """RFC 6455 section 5.2, server to client: FIN set, no mask, no extension bits."""
    first = 0x80 | int(opcode)
    if length < 126:
        return struct.pack("!BB", first, length)
    if length < 65536:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def _encode(event_type: str, data: Any) -> bytes:
    return storable_json({"type": event_type, "data": data}).encode("utf-8")  # strict: browsers parse it


async def _close_quietly(ws: web.WebSocketResponse) -> None:
    try:
        await ws.close()
    except Exception:  # noqa: BLE001
        pass
