"""Many clients, a long queue, and a client that stops reading."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time

import aiohttp
import pytest

from tests.fixtures.server import collect_until, echo_prompt, prompt_done, run_async, slow_prompt, ws_connect


async def _client_run(session: aiohttp.ClientSession, server, index: int) -> list[dict]:
    client_id = f"many-{index}"
    async with session.ws_connect(f"{server.ws_url}?clientId={client_id}") as ws:
        first = await ws.receive_json(timeout=30)
        assert first["type"] == "status" and first["data"]["sid"] == client_id
        prompt_id = f"many-prompt-{index}"
        async with session.post(f"{server.url}/prompt", json={"prompt": echo_prompt(1000 + index),
                                                               "client_id": client_id,
                                                               "prompt_id": prompt_id}) as response:
            assert response.status == 200
        events = []
        while True:
            message = await ws.receive(timeout=60)
            assert message.type == aiohttp.WSMsgType.TEXT
            event = json.loads(message.data)
            events.append(event)
            data = event["data"]
            if event["type"] != "status":
                assert data["prompt_id"] == prompt_id  # only this client's prompt reaches it
            if event["type"] == "executing" and data["node"] is None:
                return events


@pytest.mark.timeout(120)
def test_100_concurrent_websocket_clients(plexus_server):
    async def main():
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                         timeout=aiohttp.ClientTimeout(total=90)) as session:
            return await asyncio.gather(*(_client_run(session, plexus_server, i) for i in range(100)))

    results = run_async(main)
    assert len(results) == 100
    for index, events in enumerate(results):
        executed = [e for e in events if e["type"] == "executed"]
        assert executed[0]["data"]["output"] == {"value": [1000 + index]}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_1000_queued_prompts(plexus_server):
    server = plexus_server
    server.wait_idle()
    ids = [f"bulk-{i}" for i in range(1000)]

    async def submit():
        async with aiohttp.ClientSession() as session:
            # hold the worker so the whole batch is queued at once
            await session.post(f"{server.url}/prompt", json={"prompt": slow_prompt(30, 300, tag="hold"),
                                                             "prompt_id": "bulk-hold"})
            semaphore = asyncio.Semaphore(32)

            async def post(index):
                async with semaphore:
                    async with session.post(f"{server.url}/prompt", json={
                            "prompt": echo_prompt(index), "prompt_id": ids[index]}) as response:
                        return response.status

            return await asyncio.gather(*(post(i) for i in range(1000)))

    statuses = run_async(submit)
    assert statuses == [200] * 1000
    queue = server.get_json("/queue")
    pending = [item[1] for item in queue["queue_pending"]]
    assert len(pending) == 1000 and sorted(pending) == sorted(ids)
    assert server.get_json("/prompt")["exec_info"]["queue_remaining"] == 1001
    server.post_json("/interrupt", {"prompt_id": "bulk-hold"})
    server.wait_idle(timeout=120)
    history = server.get_json("/history?max_items=2000")
    done = [k for k in history if k.startswith("bulk-") and k != "bulk-hold"]
    assert len(done) == 1000
    assert all(history[f"bulk-{i}"]["outputs"] == {"1": {"value": [i]}} for i in (0, 499, 999))


def stalled_websocket(port: int, client_id: str) -> socket.socket:
    """A websocket client that completes the handshake and then never reads (tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /ws?clientId={client_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101")
    return sock


def test_slow_client_does_not_block_others(plexus_server):
    server = plexus_server
    server.wait_idle()
    stalled = stalled_websocket(server.port, "stalled")
    watcher = ws_connect(server, "watcher-fast")
    try:
        big = "x" * 400_000
        dropped_before = server.get_json("/system_stats")["websocket"]["dropped_slow_clients"]
        ids = [f"flood-{i}" for i in range(100)]  # 40 MB, well past the 16 MB per-client backlog cap
        started = time.monotonic()
        for prompt_id in ids:  # no client_id: every event is broadcast
            server.post_json("/prompt", {"prompt": slow_prompt(0.0, 1, text=big, tag=prompt_id),
                                         "prompt_id": prompt_id})
        collect_until(watcher, prompt_done(ids[-1]), timeout=60)
        assert time.monotonic() - started < 30
        began = time.monotonic()
        assert server.get_json("/queue")["queue_pending"] == []
        assert time.monotonic() - began < 2  # the server stays responsive
        # the stalled client was cut off instead of buffering without bound
        assert server.get_json("/system_stats")["websocket"]["dropped_slow_clients"] == dropped_before + 1
    finally:
        watcher.close()
        stalled.close()
