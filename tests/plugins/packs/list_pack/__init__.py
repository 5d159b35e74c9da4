# V1 pack: INPUT_IS_LIST / OUTPUT_IS_LIST, ExecutionBlocker inside a list, variadic **kwargs.
from comfy_execution.graph import ExecutionBlocker


class AnyType(str):
    """The community's wildcard trick: a type name that is never 'not equal' to another."""

    def __ne__(self, other):
        return False


any_type = AnyType("*")


class Range:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 3, "min": 0, "max": 100})}}

    RETURN_TYPES = ("INT",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "make"
    CATEGORY = "test/list"

    def make(self, count):
        return (list(range(count)),)


class Scale:
    """Called once per item; shorter lists repeat their last item."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True}), "factor": ("INT", {"default": 2})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "scale"
    CATEGORY = "test/list"

    def scale(self, value, factor):
        return (value * factor,)


class ListSum:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"values": ("INT", {"forceInput": True}), "offset": ("INT", {"default": 0})}}

    RETURN_TYPES = ("INT", "INT")
    RETURN_NAMES = ("sum", "count")
    INPUT_IS_LIST = True
    FUNCTION = "total"
    CATEGORY = "test/list"

    def total(self, values, offset):
        # with INPUT_IS_LIST every input arrives as a list, widgets included
        return (sum(values) + offset[0], len(values))


class WordsWithBlocker:
    """A list output in which one item is blocked: only the others continue downstream."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "alpha beta gamma"}),
                             "blocked_word": ("STRING", {"default": "beta"})}}

    RETURN_TYPES = ("STRING",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "split"
    CATEGORY = "test/list"

    def split(self, text, blocked_word):
        return ([ExecutionBlocker(None) if w == blocked_word else w for w in text.split()],)


class CollectText:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"forceInput": True})}}

    RETURN_TYPES = ()
    FUNCTION = "collect"
    OUTPUT_NODE = True
    CATEGORY = "test/list"

    def collect(self, text):
        return {"ui": {"text": [text]}}


class JoinAny:
    """Variadic: any number of linked inputs (input_1, input_2, ...) arrive through **kwargs."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"separator": ("STRING", {"default": ","})}, "optional": {}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "join"
    CATEGORY = "test/list"

    def join(self, separator, **kwargs):
        return (separator.join(str(kwargs[k]) for k in sorted(kwargs)),)


class PassAny:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (any_type,)}}

    RETURN_TYPES = (any_type,)
    FUNCTION = "passthrough"
    CATEGORY = "test/list"

    def passthrough(self, value):
        return (value,)


NODE_CLASS_MAPPINGS = {
    "TestPassAny": PassAny,
    "TestRange": Range,
    "TestScale": Scale,
    "TestListSum": ListSum,
    "TestWordsWithBlocker": WordsWithBlocker,
    "TestCollectText": CollectText,
    "TestJoinAny": JoinAny,
}
NODE_DISPLAY_NAME_MAPPINGS = {"TestJoinAny": "Join Any (variadic)"}
