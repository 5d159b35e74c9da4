# V3 pack (comfy_api.v0_0_2, as ComfyUI's own test pack imports it): UI outputs, validation, hidden
# values, fingerprints, progress and blocking, twins of the V1 validation and progress test nodes.
import os

from comfy_api.v0_0_2 import ComfyAPISync, ComfyExtension, io, ui
from comfy_execution.graph import ExecutionBlocker

CALLS = {"counter": 0}


class WideRange(io.ComfyNode):
    """Declares max=10, but validate_inputs(**kwargs) replaces the built-in range check (limit 100)."""

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3WideRange", category="test/v3",
                         inputs=[io.Int.Input("amount", default=1, min=0, max=10), io.String.Input("label", default="x")],
                         outputs=[io.String.Output()])

    @classmethod
    def validate_inputs(cls, **kwargs):
        if kwargs.get("amount", 0) > 100:
            return "amount must be at most 100"
        return True

    @classmethod
    def execute(cls, amount, label):
        return io.NodeOutput(f"{label}{amount}")


class ShowText(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3ShowText", display_name="Show Text (V3 test)", category="test/v3",
                         is_output_node=True, inputs=[io.AnyType.Input("value")],
                         hidden=[io.Hidden.unique_id, io.Hidden.dynprompt])

    @classmethod
    def execute(cls, value):
        me = cls.hidden.dynprompt.get_node(cls.hidden.unique_id)["class_type"]
        return io.NodeOutput(ui=ui.PreviewText(f"{cls.hidden.unique_id} ({me}): {value}"))


class Preview(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3Preview", category="test/v3", is_output_node=True,
                         inputs=[io.Image.Input("images", tooltip="what to show"),
                                 io.Mask.Input("mask", optional=True)],
                         outputs=[io.Image.Output(tooltip="the same images")])

    @classmethod
    def execute(cls, images, mask=None):
        ComfyAPISync().execution.set_progress(1, 2)
        shown = ui.PreviewImage(images, cls=cls)
        ComfyAPISync().execution.set_progress(2, 2)
        return io.NodeOutput(images, ui=shown)


class Counter(io.ComfyNode):
    """Counts its runs; fingerprint_inputs decides re-runs (constant -> cached)."""

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3Counter", category="test/v3",
                         inputs=[io.Int.Input("value", default=1), io.Combo.Input("mode", options=["same", "always"])],
                         outputs=[io.Int.Output()])

    @classmethod
    def fingerprint_inputs(cls, value, mode):
        return float("nan") if mode == "always" else value

    @classmethod
    def execute(cls, value, mode):
        CALLS["counter"] += 1
        return io.NodeOutput(CALLS["counter"])


class PickFile(io.ComfyNode):
    """A combo listing the input folder, read each time the schema is asked for (as ComfyUI does)."""

    @classmethod
    def define_schema(cls):
        import folder_paths

        files = sorted(folder_paths.filter_files_extensions(os.listdir(folder_paths.get_input_directory()), [".txt"]))
        return io.Schema(node_id="TestV3PickFile", category="test/v3",
                         inputs=[io.Combo.Input("name", options=files)], outputs=[io.String.Output()])

    @classmethod
    def execute(cls, name):
        return io.NodeOutput(name)


class Gate(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3Gate", category="test/v3",
                         inputs=[io.Int.Input("value", force_input=True), io.Boolean.Input("open", default=True),
                                 io.String.Input("message", default="", optional=True)],
                         outputs=[io.Int.Output()])

    @classmethod
    def execute(cls, value, open, message=""):
        if open:
            return io.NodeOutput(value)
        if message:
            return io.NodeOutput(block_execution=message)
        return ExecutionBlocker(None)


class StatefulCls(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="TestV3StatefulCls", category="test/v3", outputs=[io.Int.Output()])

    @classmethod
    def execute(cls):
        cls.counter = 1  # V3 nodes may not keep state on cls: ComfyUI raises here, so must Plexus
        return io.NodeOutput(1)


class OutputExtension(ComfyExtension):
    async def get_node_list(self):
        return [WideRange, ShowText, Preview, Counter, PickFile, Gate, StatefulCls]


def comfy_entrypoint():
    return OutputExtension()
