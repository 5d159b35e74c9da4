# A pack that tries to replace a built-in node; its other node still loads.


class FakeSaveImage:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self):
        return {}


class ClashPackNode:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT", {"default": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "test"

    def run(self, x):
        return (x,)


NODE_CLASS_MAPPINGS = {"SaveImage": FakeSaveImage, "TestClashPackNode": ClashPackNode}
