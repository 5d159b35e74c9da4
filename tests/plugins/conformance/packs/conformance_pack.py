# A V1 pack written the way ComfyUI packs are, one node per conformance point (issue 14).
# Loaded unmodified by tests/plugins/conformance/*, in-process and through the real server.
import asyncio

CALLS = {"is_changed": 0}


class AnyType(str):
    """The wildcard trick many packs use: a str that is never "not equal" to any type."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


ANY = AnyType("*")


class Show:
    """Output node: shows any value (a wildcard input) in its ui."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (ANY, {})}}

    RETURN_TYPES = ()
    FUNCTION = "show"
    OUTPUT_NODE = True
    CATEGORY = "conformance"

    def show(self, value):
        return {"ui": {"value": [value if isinstance(value, (int, float, str, bool)) else repr(value)]}}


class Passthrough:
    """Point 8: a wildcard input and a wildcard output."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (ANY,)}}

    RETURN_TYPES = (ANY,)
    FUNCTION = "run"
    CATEGORY = "conformance"

    def run(self, value):
        return (value,)


def _validate_below_100(value):  # point 2: a plain function (no self) assigned onto the class
    return True if value < 100 else f"{value} is not below 100"


def _changed(value):
    CALLS["is_changed"] += 1
    return value


class PlainHooks:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1, "min": 0, "max": 10})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "conformance"
    VALIDATE_INPUTS = _validate_below_100  # replaces the max=10 check, as ComfyUI does
    IS_CHANGED = _changed

    def run(self, value):
        return (value * 2,)


class SelfValidate:
    """A VALIDATE_INPUTS expecting ``self``: ComfyUI calls it on the class, so it fails."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "conformance"

    def VALIDATE_INPUTS(self, value):
        return True

    def run(self, value):
        return (value,)


class AsyncHooks:
    """Point 3: async VALIDATE_INPUTS and IS_CHANGED are awaited."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "conformance"

    @classmethod
    async def VALIDATE_INPUTS(cls, value):
        await asyncio.sleep(0)
        return True if value != 13 else "13 is unlucky"

    @classmethod
    async def IS_CHANGED(cls, value):
        await asyncio.sleep(0)
        return value

    def run(self, value):
        return (value + 1,)


class HiddenInputs:
    """Point 4: hidden entries other than the special kinds are ordinary inputs (loop counters)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {},
                "hidden": {"initial_value0": ("*",), "note": ("STRING",), "tuple_id": ("UNIQUE_ID",),
                           "unique_id": "UNIQUE_ID", "prompt": "PROMPT"}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "conformance"

    def run(self, unique_id, prompt, initial_value0="absent", note="absent", tuple_id="absent"):
        return {"ui": {"initial_value0": [initial_value0], "note": [note], "tuple_id": [tuple_id],
                       "unique_id": [unique_id], "prompt_has_me": [unique_id in prompt]}}


class ById:
    """Point 5: a hidden UNIQUE_ID puts the node id into the cache key."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1})}, "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "conformance"

    def run(self, value, unique_id):
        return (f"{unique_id}:{value}",)


class Pixels:
    """Point 6: a 1x4 image with values that rounding and truncation tell apart."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "conformance"

    def run(self):
        import torch

        values = torch.tensor([0.25, 0.999, 0.5, 1.0, 0.0019, 1.5, -0.2, 0.7])
        return (values[:, None].repeat(1, 3).reshape(1, 1, 8, 3),)


class NoFunction:
    """Point 7: no FUNCTION; the rest of the pack must still register."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("INT",)


class InputTypesRaises:
    @classmethod
    def INPUT_TYPES(cls):
        raise RuntimeError("the models folder is not configured")

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self):
        return (1,)


NODE_CLASS_MAPPINGS = {
    "ConfShow": Show, "ConfPassthrough": Passthrough, "ConfPlainHooks": PlainHooks,
    "ConfSelfValidate": SelfValidate, "ConfAsyncHooks": AsyncHooks, "ConfHiddenInputs": HiddenInputs,
    "ConfById": ById, "ConfPixels": Pixels, "ConfNoFunction": NoFunction, "ConfInputTypesRaises": InputTypesRaises,
}
