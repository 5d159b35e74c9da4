"""ComfyUI's node typing helpers: ``IO`` (socket type names), ``ComfyNodeABC``, ``InputTypeDict``."""
from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from typing import Any, Literal, TypedDict


class StrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)


class IO(StrEnum):
    """Socket type names. ``IO.ANY`` (``"*"``) is never "not equal" to any type, so V1-style
    ``if input_type != IO.ANY`` checks accept anything, as ComfyUI's do."""

    STRING = "STRING"
    IMAGE = "IMAGE"
    MASK = "MASK"
    LATENT = "LATENT"
    BOOLEAN = "BOOLEAN"
    INT = "INT"
    FLOAT = "FLOAT"
    COMBO = "COMBO"
    CONDITIONING = "CONDITIONING"
    SAMPLER = "SAMPLER"
    SIGMAS = "SIGMAS"
    GUIDER = "GUIDER"
    NOISE = "NOISE"
    CLIP = "CLIP"
    CONTROL_NET = "CONTROL_NET"
    VAE = "VAE"
    MODEL = "MODEL"
    LORA_MODEL = "LORA_MODEL"
    CLIP_VISION = "CLIP_VISION"
    CLIP_VISION_OUTPUT = "CLIP_VISION_OUTPUT"
    STYLE_MODEL = "STYLE_MODEL"
    GLIGEN = "GLIGEN"
    UPSCALE_MODEL = "UPSCALE_MODEL"
    AUDIO = "AUDIO"
    VIDEO = "VIDEO"
    WEBCAM = "WEBCAM"
    POINT = "POINT"
    FACE_ANALYSIS = "FACE_ANALYSIS"
    BBOX = "BBOX"
    SEGS = "SEGS"
    VLM = "VLM"
    RETRIEVER = "RETRIEVER"
    PAGE_INDEX = "PAGE_INDEX"
    ANY = "*"
    NUMBER = "FLOAT,INT"
    PRIMITIVE = "STRING,FLOAT,INT,BOOLEAN"

    def __ne__(self, value: object) -> bool:
        if self.value == "*" or value == "*":
            return False
        return str(self.value) != str(value)

    def __eq__(self, value: object) -> bool:
        return str(self.value) == str(value)

    __hash__ = str.__hash__


class InputTypeOptions(TypedDict, total=False):
    default: Any
    min: float
    max: float
    step: float
    round: float
    lazy: bool
    rawLink: bool
    forceInput: bool
    multiline: bool
    tooltip: str
    placeholder: str
    options: list
    image_upload: bool
    control_after_generate: bool


class InputTypeDict(TypedDict, total=False):
    required: dict[str, tuple]
    optional: dict[str, tuple]
    hidden: dict[str, Any]


HiddenInputTypeDict = dict[str, Literal["PROMPT", "EXTRA_PNGINFO", "UNIQUE_ID", "DYNPROMPT"]]


class ComfyNodeABC(ABC):
    """A base class documenting the V1 node interface (all attributes are optional but
    ``INPUT_TYPES``, ``RETURN_TYPES`` and ``FUNCTION``)."""

    DESCRIPTION: str = ""
    CATEGORY: str = ""
    RETURN_TYPES: tuple = ()
    RETURN_NAMES: tuple | None = None
    OUTPUT_TOOLTIPS: tuple | None = None
    FUNCTION: str = ""
    OUTPUT_NODE: bool = False
    INPUT_IS_LIST: bool = False
    OUTPUT_IS_LIST: tuple | None = None
    DEPRECATED: bool = False
    EXPERIMENTAL: bool = False

    @classmethod
    @abstractmethod
    def INPUT_TYPES(cls) -> InputTypeDict:
        ...


class CheckLazyMixin:
    """``check_lazy_status`` that asks for every input still unevaluated (None)."""

    def check_lazy_status(self, **kwargs: Any) -> list[str]:
        return [name for name, value in kwargs.items() if value is None]


class FileLocator(TypedDict):
    filename: str
    subfolder: str
    type: Literal["input", "output", "temp"]
