"""The HTTP framework's own floor: a bare aiohttp app whose ``POST /prompt`` parses the JSON body and
answers a small JSON document, nothing else (no validation, queue, worker or websocket).

``bench/server.py`` starts it as a subprocess and times it with the same client and prompts as the
real server, so the server's CPU per prompt can be read against what aiohttp alone costs here.
Run alone: python bench/http_floor.py PORT
"""
from __future__ import annotations

import sys

from aiohttp import web


async def post_prompt(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({"prompt_id": body.get("prompt_id"), "number": 0, "node_errors": {}})


def main() -> None:
    app = web.Application()
    app.router.add_post("/prompt", post_prompt)
    app.router.add_get("/ping", lambda request: web.Response(text="ok"))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
