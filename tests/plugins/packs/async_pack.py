# Single-file V1 pack with async node functions: two of them in one prompt run concurrently.
import asyncio
import time


class AsyncSleep:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seconds": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 10.0}),
                             "tag": ("STRING", {"default": "a"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "sleep"
    OUTPUT_NODE = True
    CATEGORY = "test/async"

    @classmethod
    def IS_CHANGED(cls, **kwargs):
        return float("nan")

    async def sleep(self, seconds, tag):
        started = time.time()
        await asyncio.sleep(seconds)
        return {"ui": {"span": [started, time.time()], "tag": [tag]}, "result": (tag,)}


NODE_CLASS_MAPPINGS = {"TestAsyncSleep": AsyncSleep}
