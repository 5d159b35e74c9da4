"""ComfyMathExpression and ComfyNumberConvert: the template formulas, the growing ``values.*`` inputs
(linked and constant), refused constructs, and a fuzz: arbitrary text never crashes, and never takes
unbounded time or memory (huge powers and shifts are refused before they are computed)."""
from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import given, settings, strategies as st

from nodes.basics.math_expression import math_expression, number_convert
from nodes.basics.safe_expression import ExpressionError, evaluate

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@pytest.mark.parametrize("expression,values,expected", [
    ("a/2", {"a": 7}, (3.5, 3, True)),
    ("a * b + 1", {"a": 3, "b": 2.5}, (8.5, 8, True)),
    ("max(5, round(a * 24)) + (5 - (max(5, round(a * 24)) % 17)) % 17", {"a": 2.0}, (56.0, 56, True)),
    ("max(((a + 15) // 16) * 16, 256)", {"a": 1000}, (1008.0, 1008, True)),
    ("a & ~1", {"a": 7}, (6.0, 6, True)),
    ("a & -8", {"a": 1023}, (1016.0, 1016, True)),
    ("a > 2048", {"a": 4096}, (1.0, 1, True)),
    ("(a % 4 == 1) and ((b - 1) % 4 == 0)", {"a": 5, "b": 4}, (0.0, 0, False)),
    ("ceil(1.5 * log2(max(a, b))) + 2", {"a": 1024, "b": 512}, (17.0, 17, True)),
    ("a % b if b > 0 else 0", {"a": 7, "b": 0}, (0.0, 0, False)),
    ("round (a * 24)", {"a": 1.5}, (36.0, 36, True)),
    ("max(4, (int(a) // 16) * 16)", {"a": 70.9}, (64.0, 64, True)),
    ("-a/2", {"a": 7}, (-3.5, -3, True)),  # INT truncates toward zero, as int() does
    ("sum(values) + pi * 0", {"a": 1, "b": True, "c": 2.5}, (4.5, 4, True)),
])
def test_template_formulas(expression, values, expected):
    assert math_expression(expression, values) == expected


@pytest.mark.parametrize("expression,message", [
    ("__import__('os').system('true')", "not an allowed function"),
    ("a.__class__", "Attribute is not allowed"),
    ("'x' * 9", "not a number"),
    ("[a] * 9", "List is not allowed"),
    ("values * 1000000000", "operators take numbers"),
    ("9 ** 99999999", "too large"),
    ("2 ** 4096", "exceeds 4096 bits"),
    ("1 << 10 ** 9", "too large"),
    ("10.0 ** 400", "OverflowError"),
    ("a / 0", "ZeroDivisionError"),
    ("sqrt(-1)", "ValueError"),
    ("(-8) ** 0.5", "not a real number"),
    ("round(5, -10 ** 18)", "between -1000 and 1000"),
    ("max(a, key=abs)", "positional arguments only"),
    ("lambda: 1", "Lambda is not allowed"),
    ("z + 1", "unknown name 'z'"),
    ("", "empty"),
    ("1e308 * 10", "non-finite"),
    ("(" * 300 + "1" + ")" * 300, "cannot parse"),
    ("-" * 600 + "1", "more than 512 parts"),
])
def test_refused_expressions_are_clear_errors(expression, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("*", r"\*")):
        math_expression(expression, {"a": 3})


_atoms = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, width=32).map(repr),
                   st.sampled_from(["a", "b", "values", "pi", "True", "9**9**9", "1<<4000", "10**308"]))
_operators = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^", "<", "==", " and ",
                              " or ", " if a else "])
_functions = st.sampled_from(["abs", "min", "max", "sum", "round", "pow", "sqrt", "log", "floor", "int", "exp",
                              "float", "open", "eval", "getattr"])


@st.composite
def _formulas(draw, depth: int = 3) -> str:
    if depth == 0 or draw(st.booleans()):
        return str(draw(_atoms))
    kind = draw(st.sampled_from(["binary", "call", "unary"]))
    if kind == "binary":
        return f"({draw(_formulas(depth - 1))}{draw(_operators)}{draw(_formulas(depth - 1))})"
    if kind == "unary":
        return f"{draw(st.sampled_from(['-', '~', 'not ']))}{draw(_formulas(depth - 1))}"
    arguments = ", ".join(draw(_formulas(depth - 1)) for _ in range(draw(st.integers(0, 3))))
    return f"{draw(_functions)}({arguments})"


def _bounded(expression: str) -> None:
    """Evaluates to a number or raises ExpressionError, in bounded time and memory."""
    tracemalloc.start()
    started = time.process_time()
    try:
        result = evaluate(expression, {"a": 3, "b": 2.5})
        assert isinstance(result, (bool, int, float))
    except ExpressionError:
        pass
    finally:
        elapsed = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < 1.0, (expression, elapsed)
    assert peak < 8 * 2**20, (expression, peak)


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_arbitrary_text_never_crashes(text):
    _bounded(text)


@FUZZ
@given(_formulas())
def test_fuzz_formulas_are_bounded(expression):
    _bounded(expression)


def test_number_convert():
    assert number_convert(True) == (1.0, 1)
    assert number_convert(-2.7) == (-2.7, -2)
    assert number_convert(" 3.14 ") == (3.14, 3)
    assert number_convert("12") == (12.0, 12)
    for bad in ("", "abc", "inf", "nan", float("inf")):
        with pytest.raises(ValueError, match="Convert Number"):
            number_convert(bad)


@pytest.fixture(scope="module")
def plain_env(tmp_path_factory):
    from tests.fixtures.zoo import SD3Env

    base = tmp_path_factory.mktemp("math")
    env = SD3Env(base, base / "models", preview_method="none")
    yield env
    env.close()


def test_grown_inputs_linked_and_constant_in_a_graph(plain_env):
    """``values.a`` linked from another node and ``values.b`` given as a constant both reach the formula."""
    prompt = {
        "1": {"class_type": "PrimitiveInt", "inputs": {"value": 40}},
        "2": {"class_type": "ComfyMathExpression",
              "inputs": {"expression": "a // b + c", "values.a": ["1", 0], "values.b": 3, "values.c": True}},
        "3": {"class_type": "ComfyNumberConvert", "inputs": {"value": ["2", 0]}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 1]}},
    }
    result = plain_env.run(prompt)
    assert result.status == "success", result.error
    shown = [e.output["text"] for e in plain_env.events if type(e).__name__ == "Executed"]
    assert ["14"] in shown
    info = plain_env.registry.get("ComfyMathExpression").object_info(plain_env.services)
    kind, options = info["input"]["required"]["values"]
    assert kind == "COMFY_AUTOGROW_V3" and options["template"]["names"][:3] == ["a", "b", "c"]
    assert options["template"]["input"] == {"required": {"value": ["FLOAT,INT,BOOLEAN"]}}
    assert info["output"] == ["FLOAT", "INT", "BOOLEAN"] and info["output_name"] == ["FLOAT", "INT", "BOOL"]


def test_a_hostile_expression_fails_one_prompt_and_the_server_keeps_serving(plexus_server):
    server = plexus_server
    for index, expression in enumerate(["9 ** 9 ** 9 ** 9", "__import__('os')", "(" * 250 + ")" * 250]):
        prompt = {"1": {"class_type": "ComfyMathExpression",
                        "inputs": {"expression": expression, "values.a": 2}},
                  "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 1]}}}
        answer = server.post_json("/prompt", {"prompt": prompt, "prompt_id": f"math-{index}"})
        assert answer.status == 200, answer.body
        server.wait_idle(20)
        status = server.get_json(f"/history/math-{index}")[f"math-{index}"]["status"]
        assert status["status_str"] == "error"
        error = status["messages"][-1]
        assert error[0] == "execution_error" and "Math Expression" in error[1]["exception_message"]
    assert server.get_json("/system_stats")["system"]["python_version"]
