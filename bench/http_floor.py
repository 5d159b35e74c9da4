"""The floors under ``bench/server.py``'s figures: bare aiohttp apps that do a fraction of the work.

- ``bare``: ``POST /prompt`` parses the JSON body and answers a small JSON document, nothing else
  (no validation, queue, worker or websocket): what aiohttp alone costs per request.
- ``worker``: the same, and the prompt id goes to a worker thread (woken with a ``threading.Event``,
  as Plexus's and ComfyUI's workers are), which hands one websocket message back to the loop with
  ``call_soon_threadsafe``: the shape of any server that runs prompts beside an aiohttp loop, with
  no validation, storage, node or history.
- ``durable``: ``worker``, and the two commits the issue's durable queue cannot do without, in a
  SQLite file in WAL mode (``synchronous=NORMAL``, as Plexus's queue): the prompt's row is inserted
  before the POST is answered, and the worker marks it finished with a small result before its
  message goes out. Still no validation, node, history reads or the other six messages of a prompt.

``bench/server.py`` starts each as a subprocess and times it with the same client and prompts as the
real server, so the server's CPU per prompt can be read against these floors measured in the same run.
Run alone: python bench/http_floor.py PORT [bare|worker|durable]
"""
from __future__ import annotations

import asyncio
import collections
import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

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


def _open_jobs_table(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS jobs (prompt_id TEXT PRIMARY KEY, state TEXT NOT NULL, "
               "prompt TEXT NOT NULL, created REAL NOT NULL, finished REAL, result TEXT)")
    return db


def worker_app(db_path: Path | None = None) -> web.Application:
    """``worker``; with ``db_path``, ``durable`` (one connection under a lock, as Plexus's queue)."""
    sockets: list[web.WebSocketResponse] = []
    pending: collections.deque[str] = collections.deque()
    wake = threading.Event()
    db = _open_jobs_table(db_path) if db_path is not None else None
    db_lock = threading.Lock()

    def finished(prompt_id: str) -> None:  # on the loop
        message = json.dumps({"type": "executing", "data": {"node": None, "prompt_id": prompt_id}})
        for socket in sockets:
            asyncio.ensure_future(socket.send_str(message))

    def work(loop: asyncio.AbstractEventLoop) -> None:  # the worker thread
        while True:
            wake.wait()
            wake.clear()
            while pending:
                prompt_id = pending.popleft()
                if db is not None:
                    with db_lock:
                        db.execute("UPDATE jobs SET state='success', finished=?, result=? WHERE prompt_id=?",
                                   (time.time(), '{"outputs": {}, "messages": []}', prompt_id))
                loop.call_soon_threadsafe(finished, prompt_id)

    async def post_prompt(request: web.Request) -> web.Response:
        body = await request.json()
        if db is not None:
            with db_lock:
                db.execute("INSERT INTO jobs(prompt_id, state, prompt, created) VALUES(?, 'pending', ?, ?)",
                           (body.get("prompt_id"), json.dumps(body.get("prompt")), time.time()))
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
    with tempfile.TemporaryDirectory(prefix="plexus-floor-") as scratch:
        if kind == "bare":
            app = bare_app()
        else:
            app = worker_app(Path(scratch) / "jobs.sqlite3" if kind == "durable" else None)
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
