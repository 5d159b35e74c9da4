"""A safe arithmetic expression evaluator for ComfyMathExpression: no ``eval``.

The text is parsed with :mod:`ast` and only a whitelist is walked: number literals, the variables
given, ``values`` (the list of them), a few constants, arithmetic, bitwise, comparison and boolean
operators, ``x if c else y``, and calls of the functions in :data:`FUNCTIONS`. Everything else
(attributes, subscripts, strings, lambdas, comprehensions, keyword arguments) is refused by name.

Work is bounded whatever the text: its length and node count are capped before evaluation, integer
powers and shifts whose result would exceed :data:`MAX_INT_BITS` are refused before they are
computed, and every integer result is checked against the same bound.
"""
from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable

MAX_EXPRESSION_LENGTH = 4096
MAX_NODES = 512
MAX_INT_BITS = 4096  # about 1233 decimal digits: far beyond any size or step count

Number = int | float | bool


class ExpressionError(ValueError):
    """The expression is malformed, uses something not allowed, or cannot be evaluated."""


def _number(value: Any) -> Number:
    """Operators take numbers only (``values`` is a list: ``values * 10**9`` must not repeat it)."""
    if isinstance(value, (bool, int, float)):
        return value
    raise ExpressionError(f"operators take numbers, not {type(value).__name__}; use sum(values), "
                          f"min(values) or max(values) for the list")


def _checked_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise ExpressionError(f"an intermediate integer exceeds {MAX_INT_BITS} bits")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent * (abs(base).bit_length() - 1) > MAX_INT_BITS:  # a lower bound of the result's bits
            raise ExpressionError(f"{base} ** {exponent} is too large (over {MAX_INT_BITS} bits)")
    result = operator.pow(base, exponent)
    if isinstance(result, complex):
        raise ExpressionError(f"{base} ** {exponent} is not a real number")
    return result


def _left_shift(value: Number, count: Number) -> Number:
    if isinstance(count, int) and count > MAX_INT_BITS:
        raise ExpressionError(f"shift by {count} is too large")
    return operator.lshift(value, count)


def _log(value: Number, base: Number | None = None) -> float:
    return math.log(value) if base is None else math.log(value, base)


def _sum(*args: Any) -> Number:
    """``sum(values)`` or ``sum(a, b, c)``."""
    if len(args) == 1 and isinstance(args[0], list):
        return sum(args[0])
    return sum(args)


def _round(value: Number, digits: int | None = None) -> Number:
    if digits is not None and (not isinstance(digits, int) or abs(digits) > 1000):
        raise ExpressionError("round(x, n) needs an integer n between -1000 and 1000")
    return round(value) if digits is None else round(value, digits)


def _int(value: Number) -> int:
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError(f"int() of {value}")
    return int(value)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "min": min, "max": max, "sum": _sum, "round": _round, "pow": _power,
    "sqrt": math.sqrt, "exp": math.exp, "log": _log, "log2": math.log2, "log10": math.log10,
    "floor": math.floor, "ceil": math.ceil, "trunc": math.trunc,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "atan2": math.atan2, "hypot": math.hypot,
    "int": _int, "float": float, "bool": bool,
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: _power,
    ast.LShift: _left_shift, ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Not: operator.not_, ast.Invert: operator.invert,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def parse_expression(text: str) -> ast.Expression:
    """Parse and check the size; raises :class:`ExpressionError`."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        message = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise ExpressionError(f"cannot parse the expression: {message}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExpressionError(f"the expression has more than {MAX_NODES} parts")
    return tree


def evaluate(text: str, variables: dict[str, Number]) -> Number:
    """The value of ``text`` with ``variables`` (and ``values``, their list in order)."""
    tree = parse_expression(text)
    names = dict(CONSTANTS)
    names.update(variables)
    names["values"] = list(variables.values())  # type: ignore[assignment]
    try:
        result = _Evaluator(names).visit(tree.body)
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply") from None
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(result, (bool, int, float)):
        raise ExpressionError(f"the result is a {type(result).__name__}, not a number")
    return result


class _Evaluator:
    def __init__(self, names: dict[str, Any]):
        self.names = names

    def visit(self, node: ast.AST) -> Any:
        handler = getattr(self, f"visit_{type(node).__name__}", None)
        if handler is None:
            raise ExpressionError(f"{type(node).__name__} is not allowed in a math expression")
        return _checked_int(handler(node))

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (bool, int, float)):
            return node.value
        raise ExpressionError(f"the literal {node.value!r} is not a number")

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.names:
            return self.names[node.id]
        if node.id in FUNCTIONS:
            raise ExpressionError(f"{node.id} is a function: call it, e.g. {node.id}(a)")
        raise ExpressionError(f"unknown name {node.id!r} (inputs given: "
                              f"{', '.join(k for k in self.names if k not in CONSTANTS) or 'none'})")

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        apply = _BINARY.get(type(node.op))
        if apply is None:
            raise ExpressionError(f"the operator {type(node.op).__name__} is not allowed")
        return apply(_number(self.visit(node.left)), _number(self.visit(node.right)))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        return _UNARY[type(node.op)](_number(self.visit(node.operand)))

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        value = self.visit(node.values[0])
        for operand in node.values[1:]:  # short-circuit, as Python does
            if isinstance(node.op, ast.And) and not value or isinstance(node.op, ast.Or) and value:
                return value
            value = self.visit(operand)
        return value

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = _number(self.visit(node.left))
        for op, right_node in zip(node.ops, node.comparators):
            compare = _COMPARE.get(type(op))
            if compare is None:
                raise ExpressionError(f"the comparison {type(op).__name__} is not allowed")
            right = _number(self.visit(right_node))
            if not compare(left, right):
                return False
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            shown = node.func.id if isinstance(node.func, ast.Name) else type(node.func).__name__
            raise ExpressionError(f"{shown!s} is not an allowed function (allowed: {', '.join(sorted(FUNCTIONS))})")
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise ExpressionError(f"{node.func.id}() takes positional arguments only")
        return FUNCTIONS[node.func.id](*(self.visit(arg) for arg in node.args))
