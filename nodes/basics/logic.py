"""Flow-control nodes."""
from __future__ import annotations

from typing import Any

from execution.declare import Boolean, In, Out, node


def _switch_needs(switch: bool = False, on_false: Any = None, on_true: Any = None, **_: Any) -> list[str]:
    """Only the selected branch is evaluated."""
    wanted = "on_true" if switch else "on_false"
    return [wanted] if (on_true if switch else on_false) is None else []


@node("ComfySwitchNode", display_name="Switch", category="logic", experimental=True,
      inputs=[Boolean("switch", False), In("on_false", "*", optional=True, lazy=True),
              In("on_true", "*", optional=True, lazy=True)],
      outputs=[Out("*", "output")], check_lazy=_switch_needs)
def switch(switch: bool, on_false: Any = None, on_true: Any = None):
    """on_true if switch, else on_false; the other branch is never run."""
    return (on_true if switch else on_false,)
