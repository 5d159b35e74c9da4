"""ComfyUI's V3 node API (``comfy_api.latest.io``): ``ComfyNode``, ``Schema``, inputs, outputs,
``NodeOutput``, ``Hidden``, and the type classes, written from ComfyUI's documented behaviour.

A V3 class is adapted onto Plexus's internal schema by ``execution.plugins.comfy_v3``, which reads
what this module builds: ``Schema`` (a dataclass), each input's ``io_type``/``id``/``optional``/
``lazy`` and ``as_dict()`` (its /object_info options), each output's fields, and the class-clone
protocol (``ComfyNode.plexus_clone``) through which hooks see ``cls.hidden``.
"""
from __future__ import annotations

import abc
import inspect
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


# -- type classes ---------------------------------------------------------------------------------
class _IoType(str):
    """A V3 type name: ``*`` on either side matches, comma unions match when one contains the other."""

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, str):
            return True
        if str.__eq__(self, "*") or str.__eq__(str(other), "*"):
            return False
        mine, theirs = set(str.split(self, ",")), set(str.split(str.__str__(other), ","))
        return not (mine <= theirs or theirs <= mine)

    def __eq__(self, other: object) -> bool:
        return not self.__ne__(other)

    __hash__ = str.__hash__


class Input:
    """One input socket or widget. Unknown keyword arguments (newer ComfyUI options) are kept."""

    io_type = "*"
    widget = False

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                 tooltip: str | None = None, lazy: bool | None = None, extra_dict: dict | None = None,
                 raw_link: bool | None = None, advanced: bool | None = None, **more: Any):
        self.id = id
        self.display_name = display_name
        self.optional = optional
        self.tooltip = tooltip
        self.lazy = lazy
        self.raw_link = raw_link
        self.extra_dict = dict(extra_dict or {})
        self.more = {k: v for k, v in more.items() if v is not None}
        if advanced is not None:
            self.more["advanced"] = advanced

    def get_io_type(self) -> str:
        return _IoType(self.io_type)

    def options(self) -> dict:
        return {}

    def as_dict(self) -> dict:
        """The options dict of ``/object_info`` (``None`` values dropped)."""
        values = {"display_name": self.display_name, "tooltip": self.tooltip, "lazy": self.lazy,
                  "rawLink": self.raw_link, **self.options(), **self.more, **self.extra_dict}
        return {k: v for k, v in values.items() if v is not None}


class WidgetInput(Input):
    widget = True

    def __init__(self, id: str, display_name: str | None = None, optional: bool = False,
                 tooltip: str | None = None, lazy: bool | None = None, default: Any = None,
                 socketless: bool | None = None, force_input: bool | None = None, **more: Any):
        super().__init__(id, display_name, optional, tooltip, lazy, **more)
        self.default = default
        self.socketless = socketless
        self.force_input = force_input

    def options(self) -> dict:
        return {"default": self.default, "socketless": self.socketless, "forceInput": self.force_input,
                **self.widget_options()}

    def widget_options(self) -> dict:
        return {}


class Output:
    io_type = "*"

    def __init__(self, id: str | None = None, display_name: str | None = None, tooltip: str | None = None,
                 is_output_list: bool = False, **_more: Any):
        self.id = id
        self.display_name = display_name
        self.tooltip = tooltip
        self.is_output_list = is_output_list

    def get_io_type(self) -> str:
        return _IoType(self.io_type)


class ComfyTypeI:
    """A type class with an ``Input`` only."""

    io_type = "*"
    Input: type[Input] = Input


class ComfyTypeIO(ComfyTypeI):
    Output: type[Output] = Output


def comfytype(io_type: str, **_kwargs: Any):
    """Class decorator: gives the type class (and its nested Input/Output) the io_type."""
    def decorate(cls: type) -> type:
        cls.io_type = io_type
        for part, base in (("Input", Input), ("Output", Output)):
            nested = cls.__dict__.get(part)
            if nested is None:
                nested = type(part, (base,), {})
            setattr(cls, part, type(part, (nested,), {"io_type": io_type}))
        return cls
    return decorate


def Custom(io_type: str) -> type:
    """A new type class named ``io_type`` (for types ComfyUI does not know)."""
    return comfytype(io_type)(type(str(io_type), (ComfyTypeIO,), {}))


class NumberDisplay(str, Enum):
    number = "number"
    slider = "slider"


class UploadType(str, Enum):
    image = "image_upload"
    audio = "audio_upload"
    video = "video_upload"
    model = "file_upload"


class FolderType(str, Enum):
    input = "input"
    output = "output"
    temp = "temp"


@dataclass
class RemoteOptions:
    route: str
    refresh_button: bool = True
    control_after_refresh: str = "first"
    timeout: int | None = None
    max_retries: int | None = None
    refresh: int | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}


class _Lenient(type):
    """Unknown attributes of a type class made for an unknown name (``io.DynamicCombo.Option``,
    ``io.Autogrow.TemplateNames``) are themselves lenient classes that take any arguments."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        made = _Lenient(name, (_Anything,), {})
        type.__setattr__(cls, name, made)
        return made


class _Anything:
    def __init__(self, *args: Any, **kwargs: Any):
        self.args, self.kwargs = args, kwargs

    def as_dict(self) -> dict:
        return {k: v for k, v in self.kwargs.items() if isinstance(v, (str, int, float, bool))}


def __getattr__(name: str) -> Any:
    """Names added by newer ComfyUI releases import as plain custom types instead of failing."""
    if name.startswith("__"):
        raise AttributeError(name)
    made = comfytype(name.upper())(_Lenient(name, (ComfyTypeIO,), {}))
    globals()[name] = made
    return made


# -- hidden values --------------------------------------------------------------------------------
class Hidden(str, Enum):
    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"


class HiddenHolder:
    """``cls.hidden`` inside a hook: the filled members; anything else reads as None."""

    def __init__(self, **values: Any):
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        return None


# -- schema and node ------------------------------------------------------------------------------
@dataclass
class Schema:
    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    hidden: list = field(default_factory=list)
    description: str = ""
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False
    search_aliases: list | None = None
    essentials_category: str | None = None
    short_description: str | None = None
    price_badge: Any = None
    is_dev_only: bool = False

    def finalize(self) -> None:
        """ComfyUI's checks and defaults: unique ids, automatic hidden members, output ids."""
        self.inputs, self.outputs, self.hidden = list(self.inputs or []), list(self.outputs or []), list(self.hidden or [])
        input_ids = [i.id for i in self.inputs]
        for index, output in enumerate(self.outputs):
            if output.id is None:
                output.id = f"_{index}_{output.get_io_type()}_"
        output_ids = [o.id for o in self.outputs]
        if len(set(input_ids)) != len(input_ids):
            raise ValueError(f"{self.node_id}: input ids must be unique")
        if len(set(output_ids)) != len(output_ids):
            raise ValueError(f"{self.node_id}: output ids must be unique")
        if set(input_ids) & set(output_ids):
            raise ValueError(f"{self.node_id}: an id is both an input and an output")
        automatic = [Hidden.prompt, Hidden.extra_pnginfo] if self.is_output_node else []
        automatic += [Hidden.auth_token_comfy_org, Hidden.api_key_comfy_org] if self.is_api_node else []
        for member in automatic:
            if member not in self.hidden:
                self.hidden.append(member)


class NodeOutput:
    def __init__(self, *values: Any, ui: Any = None, expand: dict | None = None, block_execution: str | None = None,
                 **_more: Any):
        self.values = values
        self.ui = ui
        self.expand = expand
        self.block_execution = block_execution

    @property
    def result(self) -> tuple | None:
        return self.values or None


class _LockedClass(type):
    """Inside a hook's class clone, class attributes cannot be assigned (state never lives on ``cls``)."""

    def __setattr__(cls, name: str, value: Any) -> None:
        if cls.__dict__.get("_plexus_locked"):
            raise AttributeError(f"cannot set {name!r} on {cls.__name__} while it executes: V3 nodes keep no state on cls")
        super().__setattr__(name, value)


class ComfyNode(metaclass=_LockedClass):
    """Base of V3 nodes: classmethods only. Its hooks below count as "not overridden"."""

    _PLEXUS_V3_BASE = True
    hidden: HiddenHolder = HiddenHolder()

    @classmethod
    @abc.abstractmethod
    def define_schema(cls) -> Schema:
        """The node's Schema; every V3 node defines it (``GET_SCHEMA`` refuses a class that does not)."""

    @classmethod
    @abc.abstractmethod
    def execute(cls, **kwargs: Any) -> NodeOutput:
        """The node's work; every V3 node defines it (the adapter refuses to run a class that does not)."""

    @classmethod
    def validate_inputs(cls, **kwargs: Any) -> bool | str:
        return True

    @classmethod
    def fingerprint_inputs(cls, **kwargs: Any) -> Any:
        return None

    @classmethod
    def check_lazy_status(cls, **kwargs: Any) -> list[str]:
        return []

    @classmethod
    def GET_SCHEMA(cls) -> Schema:
        if getattr(cls.define_schema, "__isabstractmethod__", False):
            raise TypeError(f"V3 node {cls.__name__} does not define define_schema()")
        schema = cls.define_schema()
        schema.finalize()
        return schema

    @classmethod
    def plexus_clone(cls, **hidden: Any) -> type:
        """The per-call clone that hooks run on: ``cls.hidden`` filled, class attributes locked."""
        return type(cls)(cls.__name__, (cls,), {"hidden": HiddenHolder(**hidden), "_plexus_locked": True,
                                                "__module__": cls.__module__})

    # V1 view of the class, for other packs that call SomeV3Node.INPUT_TYPES() and friends
    @classmethod
    def INPUT_TYPES(cls, include_hidden: bool = True) -> dict:
        schema = cls.GET_SCHEMA()
        sections: dict[str, dict] = {"required": {}, "optional": {}}
        for item in schema.inputs:
            sections["optional" if item.optional else "required"][item.id] = (item.get_io_type(), item.as_dict())
        if include_hidden and schema.hidden:
            sections["hidden"] = {member.name: (member.value,) for member in schema.hidden}
        return sections

    @classmethod
    def _outputs(cls) -> list:
        return cls.GET_SCHEMA().outputs

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        is_async = inspect.iscoroutinefunction(getattr(cls, "execute", None))
        type.__setattr__(cls, "FUNCTION", "EXECUTE_NORMALIZED_ASYNC" if is_async else "EXECUTE_NORMALIZED")


def _v1_property(getter: Any) -> Any:
    class ClassProperty:
        def __get__(self, _instance: Any, owner: type) -> Any:
            return getter(owner)
    return ClassProperty()


ComfyNode.RETURN_TYPES = _v1_property(lambda c: tuple(o.get_io_type() for o in c._outputs()))
ComfyNode.RETURN_NAMES = _v1_property(lambda c: tuple(o.display_name or o.get_io_type() for o in c._outputs()))
ComfyNode.OUTPUT_IS_LIST = _v1_property(lambda c: tuple(o.is_output_list for o in c._outputs()))
ComfyNode.OUTPUT_TOOLTIPS = _v1_property(lambda c: tuple(o.tooltip for o in c._outputs()))
ComfyNode.OUTPUT_NODE = _v1_property(lambda c: c.GET_SCHEMA().is_output_node)
ComfyNode.INPUT_IS_LIST = _v1_property(lambda c: c.GET_SCHEMA().is_input_list)
ComfyNode.NOT_IDEMPOTENT = _v1_property(lambda c: c.GET_SCHEMA().not_idempotent)
ComfyNode.CATEGORY = _v1_property(lambda c: c.GET_SCHEMA().category)
ComfyNode.DESCRIPTION = _v1_property(lambda c: c.GET_SCHEMA().description)
ComfyNode.DEPRECATED = _v1_property(lambda c: c.GET_SCHEMA().is_deprecated)
ComfyNode.EXPERIMENTAL = _v1_property(lambda c: c.GET_SCHEMA().is_experimental)
ComfyNode.API_NODE = _v1_property(lambda c: c.GET_SCHEMA().is_api_node)


class NodeInfoV1(dict):
    pass


class NodeInfoV3(dict):
    pass


from comfy_api.latest._types import *  # noqa: E402,F401,F403 - the type classes (they build on the above)
from comfy_api.latest._dynamic import *  # noqa: E402,F401,F403 - DynamicCombo, Autogrow
