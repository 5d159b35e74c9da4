# A pack whose mapping is wrong: FUNCTION names a method that does not exist.


class NoFunction:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "missing_method"
    CATEGORY = "test"


NODE_CLASS_MAPPINGS = {"TestNoFunction": NoFunction}
