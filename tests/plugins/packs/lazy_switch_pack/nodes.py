import hashlib
import os

import folder_paths

CALLS = {"explode": 0, "lazy_checks": [], "changed_false": 0, "changed_nan": 0, "changed_hash": 0}


class LazySwitch:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "switch": ("BOOLEAN", {"default": True}),
                "on_true": ("*", {"lazy": True}),
                "on_false": ("*", {"lazy": True}),
            }
        }

    RETURN_TYPES = ("*",)
    FUNCTION = "switch_value"
    CATEGORY = "test/lazy"

    def check_lazy_status(self, switch, on_true=None, on_false=None):
        if switch and on_true is None:
            return ["on_true"]
        if not switch and on_false is None:
            return ["on_false"]
        return []

    def switch_value(self, switch, on_true=None, on_false=None):
        return (on_true if switch else on_false,)


class LazyThreshold:
    """Needs `a` first; asks for `b` only when `a` is above the threshold (re-asked lazily)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "threshold": ("INT", {"default": 5}),
                "a": ("INT", {"lazy": True, "forceInput": True}),
                "b": ("INT", {"lazy": True, "forceInput": True}),
            }
        }

    RETURN_TYPES = ("INT",)
    FUNCTION = "pick"
    CATEGORY = "test/lazy"

    def check_lazy_status(self, threshold, a=None, b=None):
        CALLS["lazy_checks"].append((a, b))
        if a is None:
            return ["a"]
        if a > threshold and b is None:
            return ["b"]
        return []

    def pick(self, threshold, a, b=None):
        return (a + (b or 0),)


class IntConstant:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -1000, "max": 1000})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "get"
    CATEGORY = "test"

    def get(self, value):
        return (value,)


class Explode:
    """Fails whenever it runs: wire it to a lazy input that must not be evaluated."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "boom"
    CATEGORY = "test"

    def boom(self):
        CALLS["explode"] += 1
        raise RuntimeError("Explode ran although nothing needed it")


class ShowValue:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*",)}}

    RETURN_TYPES = ()
    FUNCTION = "show"
    OUTPUT_NODE = True
    CATEGORY = "test"

    def show(self, value):
        return {"ui": {"value": [value]}}


class ChangedFalse:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "test/cache"

    @classmethod
    def IS_CHANGED(cls, value):
        return False

    def run(self, value):
        CALLS["changed_false"] += 1
        return (value,)


class ChangedNaN:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "test/cache"

    @classmethod
    def IS_CHANGED(cls, **kwargs):
        return float("NaN")

    def run(self, value):
        CALLS["changed_nan"] += 1
        return (value,)


class ChangedFileHash:
    """Re-runs only when the named input file changes (the hash is the fingerprint)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"filename": ("STRING", {"default": "data.txt"})}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "read"
    CATEGORY = "test/cache"

    @classmethod
    def IS_CHANGED(cls, filename):
        path = folder_paths.get_annotated_filepath(filename)
        if not os.path.exists(path):
            return ""
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()

    def read(self, filename):
        CALLS["changed_hash"] += 1
        with open(folder_paths.get_annotated_filepath(filename)) as handle:
            return (handle.read(),)


NODE_CLASS_MAPPINGS = {
    "TestLazySwitch": LazySwitch,
    "TestLazyThreshold": LazyThreshold,
    "TestIntConstant": IntConstant,
    "TestExplode": Explode,
    "TestShowValue": ShowValue,
    "TestChangedFalse": ChangedFalse,
    "TestChangedNaN": ChangedNaN,
    "TestChangedFileHash": ChangedFileHash,
}
NODE_DISPLAY_NAME_MAPPINGS = {"TestLazySwitch": "Lazy Switch (test)"}
