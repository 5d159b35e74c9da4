# Written for Plexus's tests: loads after hanging_pack (name order) and must still load.
class QuickAfterHang:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 3})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "test/slow"

    def run(self, value):
        return (value + 1,)


NODE_CLASS_MAPPINGS = {"QuickAfterHang": QuickAfterHang}
