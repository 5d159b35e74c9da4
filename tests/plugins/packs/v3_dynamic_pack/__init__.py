"""V3 pack with ComfyUI's dynamic inputs, written for these tests (no pack code copied).

It reproduces the exact declaration patterns V3 packs and ComfyUI's own nodes use:
``io.DynamicCombo.Input(id, options=[io.DynamicCombo.Option(key, [inputs...]), ...])`` with widgets
and a socket inside options (the DCTestNode / SaveImageAdvanced pattern), ``io.Autogrow.Input(id,
template=io.Autogrow.TemplatePrefix(input, prefix=..., min=..., max=...))`` (BatchImagesNode) and
``template=io.Autogrow.TemplateNames(input, names=[...], min=...)`` (KJNodes), and
``io.MatchType.Template``/``Input``/``Output`` (ComfySwitchNode). Every dynamic node reports, as
JSON, exactly the dict its ``execute`` received, so the tests see ComfyUI's value shape.
"""
import json

from comfy_api.latest import ComfyExtension, io


def _plain(value):
    """JSON-able view of a received value (an IMAGE tensor as its shape)."""
    return list(value.shape) if hasattr(value, "shape") else value


class DynamicMath(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="TestV3DynamicMath", display_name="Dynamic Math (V3 test)", category="test/v3",
            inputs=[
                io.DynamicCombo.Input("operation", tooltip="what to compute", options=[
                    io.DynamicCombo.Option("add", [io.Int.Input("a", default=1), io.Int.Input("b", default=2)]),
                    io.DynamicCombo.Option("repeat", [io.String.Input("text", default="ab"),
                                                      io.Int.Input("times", default=2, min=1, max=5, optional=True)]),
                    io.DynamicCombo.Option("width", [io.Image.Input("image"),
                                                     io.Int.Input("factor", default=2, min=1, max=8)]),
                    io.DynamicCombo.Option("nothing", []),
                ]),
                io.Int.Input("offset", default=0),
            ],
            outputs=[io.String.Output("received", display_name="received"), io.AnyType.Output("result")])

    @classmethod
    def execute(cls, operation, offset):
        kind = operation["operation"]
        if kind == "add":
            result = operation["a"] + operation["b"] + offset
        elif kind == "repeat":
            result = operation["text"] * operation.get("times", 1)
        elif kind == "width":
            result = operation["image"].shape[2] * operation["factor"] + offset
        else:
            result = offset
        received = {"operation": {k: _plain(v) for k, v in operation.items()}, "offset": offset}
        return io.NodeOutput(json.dumps(received, sort_keys=True), result)


class AutogrowSum(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="TestV3AutogrowSum", category="test/v3",
            inputs=[io.Autogrow.Input("values", template=io.Autogrow.TemplatePrefix(
                io.Int.Input("value", default=0), prefix="value", min=2, max=5))],
            outputs=[io.String.Output("received", display_name="received"), io.Int.Output("sum", display_name="sum")])

    @classmethod
    def execute(cls, values: io.Autogrow.Type):
        return io.NodeOutput(json.dumps(values), sum(values.values()))


class AutogrowJoin(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="TestV3AutogrowJoin", category="test/v3",
            inputs=[io.Autogrow.Input("parts", template=io.Autogrow.TemplateNames(
                        io.String.Input("part"), names=["first", "second", "third"], min=1)),
                    io.String.Input("separator", default=" ")],
            outputs=[io.String.Output("received", display_name="received"), io.String.Output("joined", display_name="joined")])

    @classmethod
    def validate_inputs(cls, separator):
        return True if separator != "|" else "the separator may not be '|'"

    @classmethod
    def execute(cls, parts: io.Autogrow.Type, separator):
        return io.NodeOutput(json.dumps(parts), separator.join(parts.values()))


class PickMatching(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        template = io.MatchType.Template("pick", allowed_types=[io.Int, io.String])
        return io.Schema(
            node_id="TestV3PickMatching", category="test/v3",
            inputs=[io.Boolean.Input("first", default=True), io.MatchType.Input("a", template=template),
                    io.MatchType.Input("b", template=template)],
            outputs=[io.MatchType.Output(template=template, display_name="picked")])

    @classmethod
    def execute(cls, first, a, b):
        return io.NodeOutput(a if first else b)


class DynamicExtension(ComfyExtension):
    async def get_node_list(self):
        return [DynamicMath, AutogrowSum, AutogrowJoin, PickMatching]


async def comfy_entrypoint():
    return DynamicExtension()
