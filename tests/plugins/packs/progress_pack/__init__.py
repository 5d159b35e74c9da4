# V1 pack: ProgressBar, the interrupt check, PromptServer routes and messages, a web extension,
# and folder_paths; the typical imports of a real-world pack.
import os
import time

import comfy.model_management
import comfy.utils
import folder_paths
import nodes
from aiohttp import web
from comfy.comfy_types import IO, ComfyNodeABC, InputTypeDict
from server import PromptServer

WEB_DIRECTORY = "./js"
PRESTARTUP_SEEN = os.environ.get("PLEXUS_TEST_PRESTARTUP_RAN") == "1"


class CountWithProgress(ComfyNodeABC):
    @classmethod
    def INPUT_TYPES(cls) -> InputTypeDict:
        return {"required": {"steps": (IO.INT, {"default": 5, "min": 1, "max": 1000}),
                             "delay": (IO.FLOAT, {"default": 0.0, "min": 0.0, "max": 1.0}),
                             "size": (IO.INT, {"default": 64, "min": 16, "max": nodes.MAX_RESOLUTION})}}

    RETURN_TYPES = (IO.INT,)
    FUNCTION = "count"
    OUTPUT_NODE = True
    CATEGORY = "test/progress"

    @classmethod
    def IS_CHANGED(cls, **kwargs):
        return float("nan")

    def count(self, steps, delay, size):
        bar = comfy.utils.ProgressBar(steps)
        for _ in range(steps):
            comfy.model_management.throw_exception_if_processing_interrupted()
            if delay:
                time.sleep(delay)
            bar.update(1)
        server = PromptServer.instance
        server.send_sync("progress_pack.done", {"steps": steps}, server.client_id)
        return {"ui": {"steps": [steps]}, "result": (steps,)}


@PromptServer.instance.routes.get("/progress_pack/hello")
async def hello(request):
    return web.json_response({"hello": "world", "output_directory": folder_paths.get_output_directory(),
                              "prestartup": PRESTARTUP_SEEN})


NODE_CLASS_MAPPINGS = {"TestCountWithProgress": CountWithProgress}
NODE_DISPLAY_NAME_MAPPINGS = {"TestCountWithProgress": "Count With Progress"}
