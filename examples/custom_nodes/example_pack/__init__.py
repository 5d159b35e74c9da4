"""Plexus's own plugin API, by example.

A Plexus-native pack is a folder in ``custom_nodes/`` (or any ``--custom-nodes-dir``) with an
``__init__.py``. It declares nodes with the same typed API as Plexus's built-in nodes
(``execution.declare``), lists them in ``PLEXUS_NODES``, may ship editor extensions in
``WEB_DIRECTORY`` and may add HTTP routes in ``plexus_setup(host)``. See custom_nodes/README.md.

Rules that keep the server fast and safe, as for built-ins: import heavy libraries (torch, PIL)
inside the node functions, never at module level; read and write files only through
``ctx.services.paths``.
"""
from __future__ import annotations

from execution.declare import Boolean, Combo, In, Int, Out, String, node

WEB_DIRECTORY = "web"  # served at /extensions/example_pack/, loaded by the editor


# A node with widgets and a progress bar. ``ctx`` (a parameter named exactly so) is the node's
# context: ``ctx.progress(value, total, preview=None)`` sends progress to the prompt's client and
# raises if the user interrupted the prompt.
@node("ExampleGradient", category="example", display_name="Gradient (example)",
      description="Paints a grey gradient, one band per step, reporting progress as it goes.",
      inputs=[Int("width", 256, min=8, max=4096, step=8, tooltip="image width in pixels"),
              Int("height", 256, min=8, max=4096, step=8),
              Combo("direction", ["horizontal", "vertical"], default="horizontal"),
              Int("steps", 4, min=1, max=64, tooltip="progress steps (bands painted one at a time)")],
      outputs=[Out("IMAGE", "image")])
def example_gradient(ctx, width: int, height: int, direction: str, steps: int):
    import torch

    ramp = torch.linspace(0.0, 1.0, width if direction == "horizontal" else height)
    image = torch.zeros(1, height, width, 3)
    bands = torch.linspace(0, ramp.numel(), steps + 1).round().long().tolist()
    for step in range(steps):
        start, end = bands[step], bands[step + 1]
        if direction == "horizontal":
            image[:, :, start:end, :] = ramp[start:end].view(1, 1, -1, 1)
        else:
            image[:, start:end, :, :] = ramp[start:end].view(1, -1, 1, 1)
        ctx.progress(step + 1, steps)
    return (image,)


# Lazy inputs: the runner evaluates an input marked ``lazy=True`` only when ``check_lazy`` names
# it (it receives unevaluated inputs as None and is asked again until it names nothing new).
def _needed_branch(use_second: bool, first=None, second=None) -> list[str]:
    if use_second:
        return ["second"] if second is None else []
    return ["first"] if first is None else []


@node("ExampleSwitch", category="example", display_name="Switch (lazy, example)",
      description="Passes one of two inputs; only the chosen branch of the graph runs.",
      inputs=[Boolean("use_second", False, label_on="second", label_off="first"),
              In("first", "*", lazy=True), In("second", "*", lazy=True)],
      outputs=[Out("*", "value")], check_lazy=_needed_branch)
def example_switch(use_second: bool, first=None, second=None):
    return (second if use_second else first,)


# A list output: ``is_list=True`` makes downstream nodes run once per item.
@node("ExampleSplitWords", category="example", display_name="Split Words (example)",
      inputs=[String("text", "red green blue", multiline=True), String("separator", " ")],
      outputs=[Out("STRING", "words", is_list=True), Out("INT", "count")])
def example_split_words(text: str, separator: str):
    words = [w for w in text.split(separator or None) if w]
    return (words, len(words))


# ``input_is_list=True``: the function receives whole lists (widgets too) and is called once.
@node("ExampleJoinWords", category="example", display_name="Join Words (example)", input_is_list=True,
      inputs=[In("words", "STRING"), String("separator", ", ")], outputs=[Out("STRING", "text")])
def example_join_words(words: list, separator: list):
    return (separator[0].join(str(w) for w in words),)


PLEXUS_NODES = [example_gradient, example_switch, example_split_words, example_join_words]


def plexus_setup(host) -> None:
    """Called once at load. ``host.routes`` is the server's aiohttp route table (routes are
    added to the app after all packs load; also reachable under /api); ``host.services`` gives
    the folders; ``host.send(event, data, client_id)`` sends a websocket message."""

    @host.routes.get("/example_pack/info")
    async def info(request):
        from aiohttp import web

        return web.json_response({"pack": "example_pack", "nodes": [fn.__node_schema__.name for fn in PLEXUS_NODES]})
