# V3 pack (comfy_api.latest): the twins of the V1 lazy, list, async and expansion test nodes.
import asyncio
import time

from comfy_api.latest import ComfyExtension, io
from comfy_execution.graph_utils import GraphBuilder


class LazySwitch(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3LazySwitch", display_name="Lazy Switch (V3 test)", category="test/v3",
                         inputs=[io.Boolean.Input("switch", default=True),
                                 io.AnyType.Input("on_true", lazy=True), io.AnyType.Input("on_false", lazy=True)],
                         outputs=[io.AnyType.Output()])

    @classmethod
    def check_lazy_status(cls, switch, on_true=None, on_false=None):
        if switch and on_true is None:
            return ["on_true"]
        if not switch and on_false is None:
            return ["on_false"]
        return []

    @classmethod
    def execute(cls, switch, on_true=None, on_false=None):
        return io.NodeOutput(on_true if switch else on_false)


class Range(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3Range", category="test/v3",
                         inputs=[io.Int.Input("count", default=3, min=0, max=100)],
                         outputs=[io.Int.Output(is_output_list=True)])

    @classmethod
    def execute(cls, count):
        return io.NodeOutput(list(range(count)))


class ListSum(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3ListSum", category="test/v3", is_input_list=True,
                         inputs=[io.Int.Input("values", force_input=True), io.Int.Input("offset", default=0)],
                         outputs=[io.Int.Output("sum", display_name="sum"), io.Int.Output("count", display_name="count")])

    @classmethod
    def execute(cls, values, offset):
        return io.NodeOutput(sum(values) + offset[0], len(values))


class AsyncSleep(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3AsyncSleep", category="test/v3", is_output_node=True,
                         inputs=[io.Float.Input("seconds", default=0.3, min=0.0, max=10.0),
                                 io.String.Input("tag", default="a")],
                         outputs=[io.String.Output()])

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        return float("nan")

    @classmethod
    async def execute(cls, seconds, tag):
        started = time.time()
        await asyncio.sleep(seconds)
        return io.NodeOutput(tag, ui={"span": [started, time.time()], "tag": [tag]})


class AddChain(io.ComfyNode):
    """Node expansion: a chain of `count` TestAddInt nodes (the V1 loop pack's adder)."""

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3AddChain", category="test/v3", enable_expand=True,
                         inputs=[io.Int.Input("start", force_input=True), io.Int.Input("count", default=3, min=1),
                                 io.Int.Input("step", default=1)],
                         outputs=[io.Int.Output()])

    @classmethod
    def execute(cls, start, count, step):
        graph = GraphBuilder()
        value = start
        for _ in range(count):
            value = graph.node("TestAddInt", a=value, b=step).out(0)
        return io.NodeOutput(value, expand=graph.finalize())


class ExpandWithoutFlag(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3ExpandWithoutFlag", category="test/v3", outputs=[io.Int.Output()])

    @classmethod
    def execute(cls):
        graph = GraphBuilder()
        return io.NodeOutput(graph.node("TestAddInt", a=1, b=1).out(0), expand=graph.finalize())


class FlowExtension(ComfyExtension):
    async def get_node_list(self):
        return [LazySwitch, Range, ListSum, AsyncSleep, AddChain, ExpandWithoutFlag]


async def comfy_entrypoint():
    return FlowExtension()
