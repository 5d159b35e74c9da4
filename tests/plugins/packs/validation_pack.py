# Single-file V1 pack: VALIDATE_INPUTS with input_types and with **kwargs.


class AcceptNumberOrText:
    """Declares INT but accepts a STRING link too: `input_types` turns off the link type check."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "describe"
    CATEGORY = "test/validation"

    @classmethod
    def VALIDATE_INPUTS(cls, input_types):
        if input_types.get("value") not in ("INT", "STRING"):
            return f"value must be INT or STRING, not {input_types.get('value')}"
        return True

    def describe(self, value):
        return (f"{type(value).__name__}:{value}",)


class WideRange:
    """Declares max=10, but VALIDATE_INPUTS(**kwargs) replaces the built-in range check (limit 100)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"amount": ("INT", {"default": 1, "min": 0, "max": 10}),
                             "label": ("STRING", {"default": "x"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "test/validation"

    @classmethod
    def VALIDATE_INPUTS(cls, **kwargs):
        if kwargs.get("amount", 0) > 100:
            return "amount must be at most 100"
        return True

    def run(self, amount, label):
        return (f"{label}{amount}",)


class TextConstant:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "", "multiline": True})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "get"
    CATEGORY = "test"

    def get(self, text):
        return (text,)


NODE_CLASS_MAPPINGS = {
    "TestAcceptNumberOrText": AcceptNumberOrText,
    "TestWideRange": WideRange,
    "TestTextConstant": TextConstant,
}
