"""The type classes of ``comfy_api.latest.io`` (``io.Int``, ``io.Combo``, ``io.Image``...): each has an
``Input`` (and mostly an ``Output``) whose ``as_dict()`` gives ComfyUI's /object_info options."""
from __future__ import annotations

from enum import Enum
from typing import Any

from comfy_api.latest._io import (ComfyTypeI, ComfyTypeIO, Custom, FolderType, Input, NumberDisplay, Output,
                                  RemoteOptions, UploadType, WidgetInput, comfytype)


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


@comfytype("BOOLEAN")
class Boolean(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id: str, label_on: str | None = None, label_off: str | None = None, **kw: Any):
            super().__init__(id, **kw)
            self.label_on, self.label_off = label_on, label_off

        def widget_options(self) -> dict:
            return {"label_on": self.label_on, "label_off": self.label_off}


@comfytype("INT")
class Int(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id: str, min: int | None = None, max: int | None = None, step: int | None = None,
                     control_after_generate: bool | None = None, display_mode: NumberDisplay | None = None,
                     **kw: Any):
            super().__init__(id, **kw)
            self.min, self.max, self.step = min, max, step
            self.control_after_generate, self.display_mode = control_after_generate, display_mode

        def widget_options(self) -> dict:
            return {"min": self.min, "max": self.max, "step": self.step,
                    "control_after_generate": self.control_after_generate, "display": _enum_value(self.display_mode)}


@comfytype("FLOAT")
class Float(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id: str, min: float | None = None, max: float | None = None, step: float | None = None,
                     round: float | None = None, display_mode: NumberDisplay | None = None, **kw: Any):
            super().__init__(id, **kw)
            self.min, self.max, self.step, self.round, self.display_mode = min, max, step, round, display_mode

        def widget_options(self) -> dict:
            return {"min": self.min, "max": self.max, "step": self.step, "round": self.round,
                    "display": _enum_value(self.display_mode)}


@comfytype("STRING")
class String(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id: str, multiline: bool | None = None, placeholder: str | None = None,
                     dynamic_prompts: bool | None = None, **kw: Any):
            super().__init__(id, **kw)
            self.multiline, self.placeholder, self.dynamic_prompts = multiline, placeholder, dynamic_prompts

        def widget_options(self) -> dict:
            return {"multiline": self.multiline, "placeholder": self.placeholder, "dynamicPrompts": self.dynamic_prompts}


@comfytype("COMBO")
class Combo(ComfyTypeIO):
    class Input(WidgetInput):
        def __init__(self, id: str, options: Any = None, control_after_generate: bool | None = None,
                     upload: UploadType | None = None, image_folder: FolderType | None = None,
                     remote: RemoteOptions | None = None, **kw: Any):
            if isinstance(options, type) and issubclass(options, Enum):
                options = [member.value for member in options]
            if isinstance(kw.get("default"), Enum):
                kw["default"] = kw["default"].value
            super().__init__(id, **kw)
            self.combo_options = list(options or [])
            self.control_after_generate, self.upload, self.image_folder = control_after_generate, upload, image_folder
            self.remote = remote

        def widget_options(self) -> dict:
            extra = {_enum_value(self.upload): True} if self.upload is not None else {}
            return {"multiselect": False, "options": self.combo_options,
                    "control_after_generate": self.control_after_generate,
                    "image_folder": _enum_value(self.image_folder),
                    "remote": self.remote.as_dict() if self.remote else None, **extra}

    class Output(Output):
        def __init__(self, id: str | None = None, options: list | None = None, **kw: Any):
            super().__init__(id, **kw)
            self.options = list(options or [])

        def get_io_type(self) -> Any:
            return self.options or "COMBO"


@comfytype("COMBO")
class MultiCombo(ComfyTypeI):
    class Input(Combo.Input):
        def __init__(self, id: str, options: Any = None, placeholder: str | None = None,
                     chip: bool | None = None, **kw: Any):
            super().__init__(id, options, **kw)
            self.placeholder, self.chip = placeholder, chip

        def widget_options(self) -> dict:
            return {**super().widget_options(), "multiselect": None, "multi_select": True,
                    "placeholder": self.placeholder, "chip": self.chip}


@comfytype("*")
class AnyType(ComfyTypeIO):
    pass


class MultiType:
    class Input(Input):
        """``MultiType.Input(id_or_widget, types=[...])``: the comma join of the types (deduplicated)."""

        def __init__(self, id: Any, types: list | None = None, **kw: Any):
            widget = id if isinstance(id, Input) else None
            super().__init__(widget.id if widget else id, **kw)
            names = [widget.io_type] if widget else []
            for kind in types or []:
                name = getattr(kind, "io_type", kind)
                if name not in names:
                    names.append(str(name))
            self.io_type = ",".join(names)
            self.widget_input = widget

        def options(self) -> dict:
            if self.widget_input is None:
                return {}
            return {**self.widget_input.as_dict(), "widgetType": self.widget_input.io_type}


class MatchType:
    """Resolved by the frontend from the connected input; the server only checks ``*``."""

    io_type = "COMFY_MATCHTYPE_V3"

    class Template:
        """Inputs and outputs sharing ``template_id`` take one type, one of ``allowed_types``
        (type classes; default any)."""

        def __init__(self, template_id: str, allowed_types: Any = None):
            kinds = allowed_types if isinstance(allowed_types, (list, tuple)) else [allowed_types or AnyType]
            self.template_id = template_id
            self.allowed_types = list(kinds)

        def as_dict(self) -> dict:
            names = [str.__str__(getattr(kind, "io_type", kind)) for kind in self.allowed_types]
            return {"template_id": self.template_id, "allowed_types": ",".join(dict.fromkeys(names))}

    class Input(Input):
        io_type = "COMFY_MATCHTYPE_V3"

        def __init__(self, id: str, template: Any = None, **kw: Any):
            super().__init__(id, **kw)
            self.template = template

        def options(self) -> dict:
            return {"template": self.template.as_dict()} if self.template is not None else {}

    class Output(Output):
        io_type = "COMFY_MATCHTYPE_V3"

        def __init__(self, template: Any = None, id: str | None = None, **kw: Any):
            super().__init__(id, **kw)
            self.template = template


_PLAIN_TYPES = {
    "Image": "IMAGE", "Mask": "MASK", "Latent": "LATENT", "Conditioning": "CONDITIONING", "Sampler": "SAMPLER",
    "Sigmas": "SIGMAS", "Noise": "NOISE", "Guider": "GUIDER", "Clip": "CLIP", "ControlNet": "CONTROL_NET",
    "Vae": "VAE", "Model": "MODEL", "ClipVision": "CLIP_VISION", "ClipVisionOutput": "CLIP_VISION_OUTPUT",
    "StyleModel": "STYLE_MODEL", "Gligen": "GLIGEN", "UpscaleModel": "UPSCALE_MODEL", "Audio": "AUDIO",
    "Video": "VIDEO", "SVG": "SVG", "LoraModel": "LORA_MODEL", "LossMap": "LOSS_MAP", "Voxel": "VOXEL",
    "Mesh": "MESH", "Hooks": "HOOKS", "HookKeyframes": "HOOK_KEYFRAMES", "TimestepsRange": "TIMESTEPS_RANGE",
    "LatentOperation": "LATENT_OPERATION", "FlowControl": "FLOW_CONTROL", "Accumulation": "ACCUMULATION",
    "Photomaker": "PHOTOMAKER", "Point": "POINT", "FaceAnalysis": "FACE_ANALYSIS", "BBOX": "BBOX",
    "SEGS": "SEGS", "MODEL_PATCH": "MODEL_PATCH", "AudioEncoder": "AUDIO_ENCODER",
    "AudioEncoderOutput": "AUDIO_ENCODER_OUTPUT", "LatentUpscaleModel": "LATENT_UPSCALE_MODEL",
    "Webcam": "WEBCAM", "Load3DCamera": "LOAD3D_CAMERA", "Load3D": "LOAD_3D", "Load3DAnimation": "LOAD_3D_ANIMATION",
    "WanCameraEmbedding": "WAN_CAMERA_EMBEDDING", "VLM": "VLM", "Retriever": "RETRIEVER", "PageIndex": "PAGE_INDEX",
}
for _name, _io_type in _PLAIN_TYPES.items():
    globals()[_name] = Custom(_io_type)
PLAIN_TYPE_NAMES = tuple(_PLAIN_TYPES)
__all__ = ["Boolean", "Int", "Float", "String", "Combo", "MultiCombo", "AnyType", "MultiType", "MatchType",
           *PLAIN_TYPE_NAMES]


