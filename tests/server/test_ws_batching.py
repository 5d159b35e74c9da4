"""The hub frames messages itself for clients without permessage-deflate and writes a batch at
once (issue 23): every message arrives whole, in order, whatever its length class (< 126 bytes,
16-bit and 64-bit lengths), text and binary mixed; a deflate client still gets aiohttp's frames."""
from __future__ import annotations

import asyncio
import json

import aiohttp
from aiohttp import web

from execution.async_bridge import run_blocking
from web.ws_hub import WebSocketHub


async def _round_trip(compress: int) -> tuple[list, int]:
    loop = asyncio.get_running_loop()
    hub = WebSocketHub(loop)
    app = web.Application()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await hub.handle(request, lambda client: None)

    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    sent = [("json", i) for i in range(50)] + [("bytes", b"m" * 200), ("json", "x" * 70_000),
                                                ("bytes", bytes(range(256)) * 300), ("json", "end")]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws?clientId=c1", compress=compress) as ws:
                while "c1" not in hub.clients:
                    await asyncio.sleep(0.01)
                for kind, value in sent:  # all queued in one loop turn: one batch
                    if kind == "json":
                        hub.send_json("event", value, "c1")
                    else:
                        hub.send_bytes(value, "c1")
                received = []
                while len(received) < len(sent):
                    message = await asyncio.wait_for(ws.receive(), 10)
                    if message.type == aiohttp.WSMsgType.TEXT:
                        received.append(("json", json.loads(message.data)["data"]))
                    else:
                        received.append(("bytes", message.data))
                negotiated = ws.compress
    finally:
        await hub.close_all()
        await runner.cleanup()
    assert received == sent
    return received, negotiated


def test_batched_frames_arrive_whole_and_in_order_without_deflate():
    _, negotiated = run_blocking(lambda: _round_trip(compress=0))
    assert negotiated == 0


def test_deflate_clients_still_get_every_message():
    _, negotiated = run_blocking(lambda: _round_trip(compress=15))
    assert negotiated == 15
