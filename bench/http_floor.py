"""The floors under ``bench/server.py``'s figures: bare aiohttp apps that do a fraction of the work.

- ``bare``: ``POST /prompt`` parses the JSON body and answers a small JSON document, nothing else
  (no validation, queue, worker or websocket): what aiohttp alone costs per request.
- ``worker``: the same, and the prompt id goes to a worker thread (woken with a ``threading.Event``,
  as Plexus's and ComfyUI's workers are), which hands one websocket message back to the loop with
  ``call_soon_threadsafe``: the shape of any server that runs prompts beside an aiohttp loop, with
  no validation, storage, node or history.

``bench/server.py`` starts each as a subprocess and times it with the same client and prompts as the
real server, so the server's CPU per prompt can be read against these floors measured in the same run.
Run alone: python bench/http_floor.py PORT [bare|worker]
"""
from __future__ import annotations

import asyncio
import collections
import json
import sys
import threading

from aiohttp import web


def _answer(body: dict) -> web.Response:
    return web.json_response({"prompt_id": body.get("prompt_id"), "number": 0, "node_errors": {}})


def bare_app() -> web.Application:
    async def post_prompt(request: web.Request) -> web.Response:
        return _answer(await request.json())

    app = web.Application()
    app.router.add_post("/prompt", post_prompt)
    app.router.add_get("/object_info", lambda request: web.json_response({}))
    return app


def worker_app() -> web.Application:
    sockets: list[web.WebSocketResponse] = []
    pending: collections.deque[str] = collections.deque()
    wake = threading.Event()

    def finished(prompt_id: str) -> None:  # on the loop
        message = json.dumps({"type": "executing", "data": {"node": None, "prompt_id": prompt_id}})
        for socket in sockets:
            asyncio.ensure_future(socket.send_str(message))

    def work(loop: asyncio.AbstractEventLoop) -> None:  # the worker thread
        while True:
            wake.wait()
            wake.clear()
            while pending:
                loop.call_soon_threadsafe(finished, pending.popleft())

    async def post_prompt(request: web.Request) -> web.Response:
        body = await request.json()
        pending.append(body.get("prompt_id"))
        asyncio.get_running_loop().call_soon(wake.set)  # after the answer, as Plexus wakes its worker
        return _answer(body)

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        sockets.append(socket)
        await socket.send_str(json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}}}))
        async for _ in socket:
            pass
        sockets.remove(socket)
        return socket

    async def start_worker(app: web.Application) -> None:
        threading.Thread(target=work, args=(asyncio.get_running_loop(),), daemon=True).start()

    app = web.Application()
    app.router.add_post("/prompt", post_prompt)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/object_info", lambda request: web.json_response({}))
    app.on_startup.append(start_worker)
    return app


def main() -> None:
    port = int(sys.argv[1])
    kind = sys.argv[2] if len(sys.argv) > 2 else "bare"
    app = worker_app() if kind == "worker" else bare_app()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
