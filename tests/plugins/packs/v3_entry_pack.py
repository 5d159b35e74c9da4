# The V3-style entry point: comfy_entrypoint() returns an extension listing its nodes.


class Greeting:
    NODE_NAME = "TestV3Greeting"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": ("STRING", {"default": "world"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "greet"
    CATEGORY = "test/v3"

    def greet(self, name):
        return (f"hello {name}",)


class GreetingExtension:
    async def on_load(self):
        return None

    async def get_node_list(self):
        return [Greeting]


async def comfy_entrypoint():
    return GreetingExtension()
