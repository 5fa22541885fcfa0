"""Tests of engine.expressions: values, broadcasting, refusals, limits and properties."""

from __future__ import annotations

import builtins
import functools
import io
import math
import os
import pickle
import tokenize
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.expressions as ex
from engine.errors import ExpressionError, InputError
from engine.expressions import CONSTANTS, FUNCTIONS, Expression, parse_expression

X = np.linspace(-2.0, 2.0, 9)
Y = np.linspace(3.0, -1.0, 9)
Z = np.linspace(0.1, 0.9, 9)
T = np.linspace(0.0, 4.0, 9)


def values(text: str, **kwargs):
    return parse_expression(text, **kwargs)(x=X, y=Y, z=Z, t=T)


# --------------------------------------------------------------------------------------------
# Values


VALUE_CASES = [
    ("1 + 0.5*sin(pi*x)*y", lambda x, y, z, t: 1 + 0.5 * np.sin(np.pi * x) * y),
    (
        "100*exp(-((x-0.5)^2+(y-0.5)^2)/0.01)",
        lambda x, y, z, t: 100 * np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.01),
    ),
    ("where(x < 0.5, 12, 3)", lambda x, y, z, t: np.where(x < 0.5, 12.0, 3.0)),
    ("x^2 + 1", lambda x, y, z, t: x**2 + 1),
    ("2*x^2", lambda x, y, z, t: 2 * x**2),
    ("x**3 - y", lambda x, y, z, t: x**3 - y),
    ("-x^2", lambda x, y, z, t: -(x**2)),
    ("x^-1", lambda x, y, z, t: np.divide(1.0, x)),
    ("x / y / 2", lambda x, y, z, t: (x / y) / 2),
    ("x - y - z", lambda x, y, z, t: (x - y) - z),
    ("+x - -y", lambda x, y, z, t: x + y),
    ("1e-3*x + 2.5E2 + 1_000", lambda x, y, z, t: 1e-3 * x + 250.0 + 1000.0),
    ("0x10 + x", lambda x, y, z, t: 16.0 + x),
    ("pi*e", lambda x, y, z, t: np.full_like(x, math.pi * math.e)),
    ("cos(x) + tan(z) + sinh(z) + cosh(z) + tanh(y)",
     lambda x, y, z, t: np.cos(x) + np.tan(z) + np.sinh(z) + np.cosh(z) + np.tanh(y)),
    ("asin(z) + acos(z) + atan(x) + atan2(y, x)",
     lambda x, y, z, t: np.arcsin(z) + np.arccos(z) + np.arctan(x) + np.arctan2(y, x)),
    ("log(z) + log10(z) + log2(z) + sqrt(z) + exp(-t)",
     lambda x, y, z, t: np.log(z) + np.log10(z) + np.log2(z) + np.sqrt(z) + np.exp(-t)),
    ("abs(x) + sign(x) + floor(y) + ceil(y)",
     lambda x, y, z, t: np.abs(x) + np.sign(x) + np.floor(y) + np.ceil(y)),
    ("min(x, y)", lambda x, y, z, t: np.minimum(x, y)),
    ("max(x, y, z, 0.5)", lambda x, y, z, t: np.maximum(np.maximum(np.maximum(x, y), z), 0.5)),
    ("min(x, y, -1)", lambda x, y, z, t: np.minimum(np.minimum(x, y), -1.0)),
    ("heaviside(x)", lambda x, y, z, t: np.where(x >= 0, 1.0, 0.0)),
    ("heaviside(x, 0.5)", lambda x, y, z, t: np.heaviside(x, 0.5)),
    ("clip(x, -1, 1)", lambda x, y, z, t: np.clip(x, -1.0, 1.0)),
    ("hypot(x, y)", lambda x, y, z, t: np.hypot(x, y)),
    ("mod(x, 0.75)", lambda x, y, z, t: np.mod(x, 0.75)),
    ("mod(x, -0.75)", lambda x, y, z, t: np.mod(x, -0.75)),
    ("x < y", lambda x, y, z, t: (x < y).astype(float)),
    ("x >= 0", lambda x, y, z, t: (x >= 0).astype(float)),
    ("x == 0", lambda x, y, z, t: (x == 0).astype(float)),
    ("x != 0", lambda x, y, z, t: (x != 0).astype(float)),
    ("x <= 1", lambda x, y, z, t: (x <= 1).astype(float)),
    ("x > -1", lambda x, y, z, t: (x > -1).astype(float)),
    ("-1 < x <= 1", lambda x, y, z, t: ((-1 < x) & (x <= 1)).astype(float)),
    ("0 <= x < y < 2.5", lambda x, y, z, t: ((0 <= x) & (x < y) & (y < 2.5)).astype(float)),
    ("x > 0 and y > 0", lambda x, y, z, t: ((x > 0) & (y > 0)).astype(float)),
    ("x > 1 or y > 2", lambda x, y, z, t: ((x > 1) | (y > 2)).astype(float)),
    ("not x > 0", lambda x, y, z, t: (~(x > 0)).astype(float)),
    ("not x", lambda x, y, z, t: (x == 0).astype(float)),
    ("x and 2", lambda x, y, z, t: (x != 0).astype(float)),
    ("x if x > 0 else -2*x", lambda x, y, z, t: np.where(x > 0, x, -2 * x)),
    ("1 if x > 0 else 0 if x == 0 else -1", lambda x, y, z, t: np.sign(x)),
    ("T0*(1 - exp(-t/tau))" .replace("T0", "300").replace("tau", "2"),
     lambda x, y, z, t: 300 * (1 - np.exp(-t / 2))),
    ("x*y*z*t", lambda x, y, z, t: x * y * z * t),
    ("x  # a comment", lambda x, y, z, t: x),
    ("(x\n + y)", lambda x, y, z, t: x + y),
    ("  x + 1  ", lambda x, y, z, t: x + 1),
]


@pytest.mark.parametrize(("text", "reference"), VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_values_match_numpy(text, reference):
    with np.errstate(all="ignore"):
        expected = np.broadcast_to(reference(X, Y, Z, T), X.shape)
    got = values(text)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == X.shape
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13, equal_nan=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-2^2", -4.0),
        ("-2**2", -4.0),
        ("(-2)^2", 4.0),
        ("2^3^2", 512.0),
        ("(2^3)^2", 64.0),
        ("2^-1", 0.5),
        ("2*3^2", 18.0),
        ("3^2*2", 18.0),
        ("1 + 2*3", 7.0),
        ("8/4/2", 1.0),
        ("2 + 3 > 4", 1.0),
        ("1 < 2 < 3", 1.0),
        ("3 > 2 > 2", 0.0),
        ("1 == 1.0", 1.0),
        ("not 0", 1.0),
        ("not 2", 0.0),
        ("0 or 0", 0.0),
        ("2 and 3", 1.0),
        ("2 if 0 else 3", 3.0),
        ("heaviside(0)", 1.0),
        ("heaviside(-1e-300)", 0.0),
        ("heaviside(0, 0.5)", 0.5),
        ("clip(5, 0, 1)", 1.0),
        ("clip(-5, 0, 1)", 0.0),
        ("mod(-1, 3)", 2.0),
        ("atan2(1, 0)", math.pi / 2),
        ("max(1, 2, 3, 4)", 4.0),
        ("min(4, 3, 2, 1)", 1.0),
        ("e", math.e),
        ("pi", math.pi),
        ("log(e)", 1.0),
        ("sign(-3)", -1.0),
        ("abs(-3)", 3.0),
        ("hypot(3, 4)", 5.0),
    ],
)
def test_scalar_values_and_precedence(text, expected):
    got = parse_expression(text)()
    assert type(got) is float
    assert got == pytest.approx(expected, rel=1e-15)


def test_ieee_results_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_expression("9**9**9")() == math.inf
        assert parse_expression("9^9^9")() == math.inf
        assert parse_expression("1/0")() == math.inf
        assert parse_expression("-1/0")() == -math.inf
        assert math.isnan(parse_expression("0/0")())
        assert math.isnan(parse_expression("sqrt(-1)")())
        assert math.isnan(parse_expression("log(-1)")())
        assert math.isnan(parse_expression("(-8)^(1/3)")())
        assert math.isnan(parse_expression("mod(1, 0)")())
        assert parse_expression("exp(1000)")() == math.inf
        out = parse_expression("1/x + sqrt(x) + x^1e6")(x=np.array([0.0, -1.0, 2.0]))
        assert out[0] == math.inf and math.isnan(out[1]) and out[2] == math.inf


def test_nan_counts_as_true_and_propagates_through_min_max():
    f = parse_expression("where(x, 1, 2)")
    np.testing.assert_array_equal(f(x=np.array([0.0, np.nan, 3.0])), [2.0, 1.0, 1.0])
    assert math.isnan(parse_expression("min(x, 1)")(x=math.nan))
    assert math.isnan(parse_expression("max(1, x)")(x=math.nan))


def test_parameters_are_substituted():
    params = {"T0": 300.0, "tau": 2, "unused": 7.0, "k": np.float32(0.5)}
    f = parse_expression("T0*(1 - exp(-t/tau)) + k*x", parameters=params)
    assert f.names == frozenset({"t", "x"})
    assert dict(f.parameters) == {"T0": 300.0, "tau": 2.0, "k": 0.5}
    assert f(t=2.0, x=2.0) == pytest.approx(300 * (1 - math.exp(-1)) + 1.0)
    c = parse_expression("2*k + pi", parameters={"k": 1.5})
    assert c.is_constant and c.names == frozenset() and c() == pytest.approx(3 + math.pi)
    with pytest.raises(TypeError, match="parameter"):
        f(t=1.0, x=1.0, k=2.0)


@pytest.mark.parametrize(
    ("parameters", "fragment"),
    [
        ({"sin": 1.0}, "shadows a built-in function"),
        ({"pi": 3.0}, "shadows a built-in constant"),
        ({"e": 3.0}, "shadows a built-in constant"),
        ({"x": 1.0}, "shadows a variable"),
        ({"t": 1.0}, "shadows a variable"),
        ({"1a": 1.0}, "not a usable name"),
        ({"a b": 1.0}, "not a usable name"),
        ({"lambda": 1.0}, "not a usable name"),
        ({"a": "3"}, "not a finite number"),
        ({"a": True}, "not a finite number"),
        ({"a": math.inf}, "not a finite number"),
        ({"a": math.nan}, "not a finite number"),
        ({"a": 1j}, "not a finite number"),
        ({"a": None}, "not a finite number"),
    ],
)
def test_bad_parameters_are_refused(parameters, fragment):
    with pytest.raises(ExpressionError, match=fragment) as info:
        parse_expression("x", parameters=parameters, source="case.toml", field="k")
    assert str(info.value).startswith("case.toml: k: ")


def test_custom_variables():
    f = parse_expression("u*v + x", variables=("x", "u", "v"))
    assert f.names == frozenset({"u", "v", "x"}) and f.variables == ("x", "u", "v")
    assert f(x=1.0, u=2.0, v=3.0) == 7.0
    assert not f.depends_on_time()
    with pytest.raises(ExpressionError, match="unknown name"):
        parse_expression("t + x", variables=("x",))
    with pytest.raises(ExpressionError, match="shadows a built-in"):
        parse_expression("x", variables=("x", "exp"))
    with pytest.raises(TypeError):
        parse_expression("x", variables="xy")
    np.testing.assert_array_equal(
        f.evaluate(np.array([[1.0, 5.0], [2.0, 5.0]]), u=2.0, v=np.array([1.0, 0.0])), [3.0, 2.0]
    )


def test_names_is_constant_and_depends_on_time():
    assert parse_expression("sin(pi*x) + e").names == frozenset({"x"})
    f = parse_expression("x*exp(-t) + y*z")
    assert f.names == frozenset("xyzt") and f.depends_on_time() and not f.is_constant
    g = parse_expression("exp(-t)")
    assert g.depends_on_time() and not g.is_constant
    h = parse_expression("2 + sqrt(2)*pi")
    assert h.is_constant and not h.depends_on_time() and h.names == frozenset()
    assert isinstance(f.names, frozenset)


# --------------------------------------------------------------------------------------------
# Calling and broadcasting


def test_broadcasting_shapes():
    f = parse_expression("x + 10*y")
    out = f(x=np.arange(3.0), y=np.arange(4.0)[:, None])
    assert out.shape == (4, 3) and out.dtype == np.float64
    np.testing.assert_array_equal(out, np.arange(3.0) + 10 * np.arange(4.0)[:, None])
    assert f(x=np.arange(3.0), y=1.0).shape == (3,)
    assert type(f(x=1, y=2)) is float and f(x=1, y=2) == 21.0
    zero_d = f(x=np.array(1.0), y=2.0)
    assert isinstance(zero_d, np.ndarray) and zero_d.shape == ()
    assert f(x=[1, 2], y=(3, 4)).tolist() == [31.0, 42.0]
    assert f(x=np.arange(3, dtype=np.int32), y=np.float32(1)).dtype == np.float64


def test_result_broadcasts_over_every_array_given():
    assert parse_expression("2")(x=np.zeros((2, 3))).shape == (2, 3)
    assert parse_expression("x")(x=np.zeros(3), y=np.zeros((2, 1))).shape == (2, 3)
    assert parse_expression("2*t")(x=np.zeros(4), t=1.0).tolist() == [2.0] * 4
    assert parse_expression("7")() == 7.0


def test_result_is_a_new_array():
    x = np.arange(3.0)
    for text in ("x", "+x", "(x)"):
        out = parse_expression(text)(x=x)
        assert out is not x and not np.shares_memory(out, x)
        out[0] = 99.0
        assert x[0] == 0.0


def test_call_argument_errors():
    f = parse_expression("x + y")
    with pytest.raises(TypeError, match="needs a value for y"):
        f(x=1.0)
    with pytest.raises(TypeError, match="not a variable"):
        f(x=1.0, y=1.0, w=2.0)
    with pytest.raises(TypeError, match="not numeric"):
        f(x="abc", y=1.0)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_evaluate_points(d):
    rng = np.random.default_rng(d)
    pts = rng.random((5, d))
    f = parse_expression("x + 10*y + 100*z + 1000*t")
    out = f.evaluate(pts, t=0.5)
    cols = [pts[:, i] if i < d else 0.0 for i in range(3)]
    np.testing.assert_allclose(out, cols[0] + 10 * cols[1] + 100 * cols[2] + 500.0, rtol=1e-14)
    assert out.shape == (5,) and out.dtype == np.float64
    const = parse_expression("2*pi").evaluate(pts)
    assert const.shape == (5,) and np.all(const == 2 * math.pi)
    assert parse_expression("t").evaluate(pts, t=3.0).tolist() == [3.0] * 5
    assert parse_expression("y").evaluate(pts).shape == (5,)


def test_evaluate_edge_cases():
    pts = np.array([[1.0, 2.0]])
    out = parse_expression("x").evaluate(pts)
    out[0] = 5.0
    assert pts[0, 0] == 1.0
    assert parse_expression("x + 1").evaluate(np.zeros((0, 2))).shape == (0,)
    assert parse_expression("x").evaluate([[1, 2], [3, 4]]).tolist() == [1.0, 3.0]
    assert parse_expression("3").evaluate(np.zeros((4, 1))).tolist() == [3.0] * 4
    for bad in (np.zeros(3), np.zeros((3, 4)), np.zeros((3, 0)), np.zeros((2, 2, 2))):
        with pytest.raises(ValueError, match="shape"):
            parse_expression("x").evaluate(bad)
    with pytest.raises(TypeError):
        parse_expression("x").evaluate(pts, x=1.0)
    only_t = parse_expression("2*t", variables=("t",))
    assert only_t.evaluate(np.zeros((3, 2)), t=2.0).tolist() == [4.0] * 3


def test_str_repr_and_pickle():
    text = "1 + 0.5*sin(pi*x)*y"
    f = parse_expression(text, parameters={"k": 1.0})
    assert str(f) == text and f.text == text
    assert repr(f) == f"Expression({text!r})"
    g = pickle.loads(pickle.dumps(parse_expression("k*x^2", parameters={"k": 3.0}, field="f")))
    assert g.text == "k*x^2" and g(x=2.0) == 12.0
    assert isinstance(Expression("x"), Expression)


def test_catalogue():
    assert set(FUNCTIONS) == {
        "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "exp", "log",
        "log10", "log2", "sqrt", "abs", "sign", "floor", "ceil", "min", "max", "where",
        "heaviside", "clip", "hypot", "mod",
    }  # fmt: skip
    assert dict(CONSTANTS) == {"pi": math.pi, "e": math.e}


# --------------------------------------------------------------------------------------------
# Refusals


REFUSALS = [
    ("x.__class__", "attribute access"),
    ("x[0]", "indexing"),
    ("lambda: 1", "lambda"),
    ("[x for x in y]", "comprehensions"),
    ("(x for x in y)", "comprehensions"),
    ("{x for x in y}", "comprehensions"),
    ("{x: 1 for x in y}", "comprehensions"),
    ("'a'", "strings"),
    ('"x"', "strings"),
    ("b'a'", "bytes"),
    ("f'{x}'", "f-strings"),
    ("2j", "complex numbers"),
    ("x + 1j", "complex numbers"),
    ("True", "True and False"),
    ("None", "None"),
    ("...", "'...'"),
    ("[1, 2]", "lists"),
    ("(1, 2)", "tuples"),
    ("1, 2", "tuples"),
    ("{1, 2}", "sets"),
    ("{1: 2}", "dictionaries"),
    ("sin(x=1)", "keyword arguments"),
    ("max(*x)", "starred"),
    ("(y := 2)", "assignments"),
    ("(x)(2)", "x is not a function"),
    ("x(2)", "x is not a function"),
    ("pi(2)", "pi is not a function"),
    ("sin(x)(2)", "only functions named directly"),
    ("x % 2", "'%'"),
    ("x // 2", "'//'"),
    ("x @ y", "'@'"),
    ("x & y", "'&'"),
    ("x | y", "'|'"),
    ("x << 1", "'<<'"),
    ("x >> 1", "'>>'"),
    ("~x", "'~'"),
    ("x is y", "'is'"),
    ("x is not y", "'is not'"),
    ("x in y", "'in'"),
    ("x not in y", "'not in'"),
    ("sin", "sin is a function"),
    ("2*exp + 1", "exp is a function"),
    ("foo", "unknown name"),
    ("PI", "unknown name"),
    ("ln(x)", "unknown function"),
    ("sin(x, y)", "sin takes 1 argument, got 2"),
    ("sin()", "sin takes 1 argument, got 0"),
    ("atan2(x)", "atan2 takes 2 arguments, got 1"),
    ("max(x)", "max takes at least 2 arguments, got 1"),
    ("min()", "min takes at least 2 arguments, got 0"),
    ("where(x, 1)", "where takes 3 arguments, got 2"),
    ("clip(x, 1)", "clip takes 3 arguments, got 2"),
    ("heaviside(x, 1, 2)", "heaviside takes 1 or 2 arguments, got 3"),
    ("1e400", "number out of range"),
    ("9" * 400, "number out of range"),
    ("", "empty expression"),
    ("  \n\t ", "empty expression"),
    ("1 +", "could not parse the expression"),
    ("x y", "could not parse the expression"),
    ("sin(x", "could not parse the expression"),
    ("x = 1", "could not parse the expression"),
    ("x +\n 2", "could not parse the expression"),
    ("x ^^ 2", "could not parse the expression"),
    ("x\x00", "could not parse the expression"),
    ("\ud800", "could not parse the expression"),
    ("import os", "could not parse the expression"),
    ("x; y", "could not parse the expression"),
    ("if x: 1", "could not parse the expression"),
    ("await x", "'await'"),
]


@pytest.mark.parametrize(("text", "fragment"), REFUSALS, ids=[repr(r[0])[:40] for r in REFUSALS])
def test_refusals(text, fragment):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, source="case.toml", field="materials[0].k")
    err = info.value
    assert isinstance(err, InputError) and err.exit_code == 2
    assert fragment in err.problem
    message = str(err)
    assert message.startswith("case.toml: materials[0].k: ")
    assert "got " in message and "expected " in message
    assert err.has_value


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("x.__class__", "column 1"),
        ("1 + x.real", "column 5"),
        ("1 + x % 2", "column 7"),
        ("1 + 2 +", "at the end"),
        ("  sin(x, y)", "column 3"),
        ("x ^ 'a'", "column 5"),
        ("2^2^x[0]", "column 5"),
        ("(1 +\n x.y)", "line 2, column 2"),
        ("1 + (", "column 5"),
    ],
)
def test_errors_say_where(text, column):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    assert column in info.value.problem


def test_columns_count_characters_not_bytes():
    with pytest.raises(ExpressionError, match=r"\(column 10\)"):
        parse_expression("αβ + é + x.y", parameters={"αβ": 1.0, "é": 2.0})


def test_error_details():
    with pytest.raises(ExpressionError) as info:
        parse_expression("1 + foo*x", parameters={"k": 1.0}, source="c.toml", field="source.value")
    err = info.value
    assert err.problem.startswith("unknown name") and err.value == "foo"
    assert "x, y, z, t" in err.expected and "k" in err.expected and "sin" in err.expected
    assert str(err).startswith("c.toml: source.value: unknown name (column 5): got 'foo'")
    with pytest.raises(ExpressionError) as info:
        parse_expression("x +")
    assert info.value.value == "x +"
    assert info.value.problem.startswith("could not parse the expression (")
    assert "such as '1 + 0.5*sin(pi*x)'" in info.value.expected
    with pytest.raises(ExpressionError, match="Did you mean 'log'"):
        parse_expression("ln(x)")
    with pytest.raises(ExpressionError, match="Did you mean 'pi'"):
        parse_expression("PI*x")
    with pytest.raises(ExpressionError, match="Did you mean 'tau'"):
        parse_expression("x/tua", parameters={"tau": 1.0})
    with pytest.raises(ExpressionError, match="mod"):
        parse_expression("x % 2")
    with pytest.raises(ExpressionError, match="parentheses"):
        parse_expression("x +\n y")
    assert parse_expression("(x +\n y)")(x=1.0, y=2.0) == 3.0


@pytest.mark.parametrize("text", [None, 3, 2.5, b"x", ["x"], parse_expression("x")])
def test_non_string_input_is_refused(text):
    with pytest.raises(ExpressionError, match="not text"):
        parse_expression(text, field="k")


SECURITY = [
    "__import__('os').system('echo hi')",
    "__import__('os')",
    "x.__class__",
    "().__class__.__bases__",
    "().__class__.__bases__[0].__subclasses__()",
    "[1,2]",
    "'a'",
    "lambda: 1",
    "open('f')",
    "open",
    "eval('1')",
    "exec('1')",
    "compile('1', 'f', 'eval')",
    "globals()",
    "__builtins__",
    "sin.__globals__",
    "getattr(x, 'y')",
    "(lambda: __import__('os'))()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "breakpoint()",
]


@pytest.mark.parametrize("text", SECURITY)
def test_security_cases_are_refused_without_running_anything(text, monkeypatch):
    def boom(*args, **kwargs):  # pragma: no cover - must never run
        raise AssertionError("user text ran code")

    monkeypatch.setattr(os, "system", boom)
    monkeypatch.setattr(builtins, "open", boom)
    # (builtins.__import__ is left alone: pytest itself imports while the test runs)
    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    monkeypatch.setattr(builtins, "breakpoint", boom)
    with pytest.raises(ExpressionError):
        parse_expression(text)


def test_the_module_never_calls_eval_exec_or_compile():
    source = Path(ex.__file__).read_text(encoding="utf-8")
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    forbidden = {"eval", "exec", "compile", "__import__", "getattr", "builtins", "__builtins__"}
    # Bare names only: re.compile and mode="eval" (a string) are fine.
    used = {b.string for a, b in zip(tokens, tokens[1:]) if b.type == tokenize.NAME and a.string != "."}
    assert not used & forbidden


# --------------------------------------------------------------------------------------------
# Limits


def test_length_limit():
    ok = "x" + "+1" * ((ex.MAX_LENGTH - 1) // 2)
    assert len(ok) <= ex.MAX_LENGTH
    with pytest.raises(ExpressionError, match="too complex|too long"):
        parse_expression(ok)  # under the length limit but over the node limit
    with pytest.raises(ExpressionError, match="too long") as info:
        parse_expression("x" + " " * ex.MAX_LENGTH)
    assert "at most 2000 characters" in str(info.value)


def test_node_limit_allows_long_flat_sums():
    n = ex.MAX_NODES // 2  # n names and n - 1 additions
    assert parse_expression("+".join(["x"] * n))(x=1.0) == float(n)
    with pytest.raises(ExpressionError, match="too complex"):
        parse_expression("+".join(["x"] * (n + 1)))


@pytest.mark.parametrize(
    "text",
    [
        "(" * 1000 + "x" + ")" * 1000,  # over the length limit
        "(" * 600 + "x" + ")" * 600,  # over Python's limit on nested parentheses
        "-" * 1000 + "x",
        "-" * 60 + "x",
        "sin(" * 60 + "x" + ")" * 60,
        "2^" * 60 + "x",
        "x if " * 60 + "1" + " else 0" * 60,
        "[" * 150 + "]" * 150,
    ],
    ids=["parens-1000", "parens-600", "minus-1000", "minus-60", "sin-60", "pow-60", "ifexp-60", "lists"],
)
def test_deep_nesting_is_an_expression_error(text):
    with pytest.raises(ExpressionError):
        parse_expression(text)


def test_nesting_within_the_limit_is_fine():
    assert parse_expression("-" * 40 + "x")(x=2.0) == 2.0
    assert parse_expression("(" * 45 + "x" + ")" * 45)(x=2.0) == 2.0
    assert parse_expression("abs(" * 40 + "x" + ")" * 40)(x=-2.0) == 2.0


@pytest.mark.parametrize(
    "text", ["x+" * 100_000 + "x", "-" * 200_000 + "x", "(" * 150 + "-" * 3000 + "x" + ")" * 150]
)
def test_recursion_and_memory_errors_of_the_parser_are_caught(text, monkeypatch):
    monkeypatch.setattr(ex, "MAX_LENGTH", 10**7)
    with pytest.raises(ExpressionError, match="nested too deeply|too complex|could not parse"):
        parse_expression(text)


# --------------------------------------------------------------------------------------------
# Properties


def _check_any_text(text: str) -> None:
    try:
        f = parse_expression(text)
    except ExpressionError:
        return
    assert isinstance(f, Expression) and f.names <= {"x", "y", "z", "t"}
    out = f(x=X, y=Y, z=Z, t=T)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == X.shape
    assert f.evaluate(np.stack([X, Y], axis=1), t=1.0).shape == X.shape


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_parses_or_raises_expression_error(text):
    _check_any_text(text)


_EXPRESSION_CHARS = "xyzt0123456789.e+-*/^()<>=!,%& |~'[]_:;sincoexpwhrmadlgqtbf\n"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=_EXPRESSION_CHARS, max_size=40))
def test_expression_like_text_parses_or_raises_expression_error(text):
    _check_any_text(text)


# A small grammar of valid expressions, each paired with a reference numpy evaluation.

_NUMBERS = ["0", "1", "2", "3", "0.5", "0.25", "1.5", "10", "1e-3", "2.5e1", "7"]
_UNARY_FUNCTIONS = {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "tanh": np.tanh, "abs": np.abs,
    "sqrt": np.sqrt, "floor": np.floor, "ceil": np.ceil, "atan": np.arctan, "sign": np.sign,
    "log": np.log, "heaviside": lambda v: np.heaviside(v, 1.0),
}  # fmt: skip
_BINARY_OPERATORS = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power,
    "**": np.power,
}  # fmt: skip
_COMPARISONS = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
    "!=": np.not_equal,
}  # fmt: skip
_BINARY_FUNCTIONS = {
    "min": np.minimum, "max": np.maximum, "hypot": np.hypot, "atan2": np.arctan2, "mod": np.mod,
}  # fmt: skip


def _flag(b):
    return np.where(b, 1.0, 0.0)


@st.composite
def _expressions(draw, depth=0):
    """(text, reference) where reference(env) computes the value with numpy directly."""
    leaf = depth >= 4 or draw(st.integers(0, 3)) == 0
    if leaf:
        kind = draw(st.sampled_from(["number", "variable", "constant"]))
        if kind == "number":
            text = draw(st.sampled_from(_NUMBERS))
            value = float(text)
            return text, lambda env: value
        if kind == "variable":
            name = draw(st.sampled_from(["x", "y"]))
            return name, lambda env: env[name]
        name = draw(st.sampled_from(["pi", "e"]))
        value = {"pi": math.pi, "e": math.e}[name]
        return name, lambda env: value
    sub = _expressions(depth=depth + 1)
    kinds = ["unary", "neg", "binary", "compare", "call2", "where", "ifexp", "clip", "logic"]
    kind = draw(st.sampled_from(kinds))
    a_text, a = draw(sub)
    if kind == "unary":
        name = draw(st.sampled_from(sorted(_UNARY_FUNCTIONS)))
        func = _UNARY_FUNCTIONS[name]
        return f"{name}({a_text})", lambda env: func(a(env))
    if kind == "neg":
        return f"-({a_text})", lambda env: np.negative(a(env))
    b_text, b = draw(sub)
    if kind == "binary":
        symbol = draw(st.sampled_from(sorted(_BINARY_OPERATORS)))
        func = _BINARY_OPERATORS[symbol]
        return f"({a_text}) {symbol} ({b_text})", lambda env: func(a(env), b(env))
    if kind == "compare":
        symbol = draw(st.sampled_from(sorted(_COMPARISONS)))
        func = _COMPARISONS[symbol]
        return f"({a_text}) {symbol} ({b_text})", lambda env: _flag(func(a(env), b(env)))
    if kind == "call2":
        name = draw(st.sampled_from(sorted(_BINARY_FUNCTIONS)))
        func = _BINARY_FUNCTIONS[name]
        return f"{name}({a_text}, {b_text})", lambda env: func(a(env), b(env))
    if kind == "logic":
        word = draw(st.sampled_from(["and", "or"]))
        func = np.logical_and if word == "and" else np.logical_or
        return f"({a_text}) {word} ({b_text})", lambda env: _flag(func(a(env) != 0, b(env) != 0))
    c_text, c = draw(sub)
    if kind == "where":
        return f"where({a_text}, {b_text}, {c_text})", lambda env: np.where(a(env) != 0, b(env), c(env))
    if kind == "ifexp":
        text = f"(({b_text}) if ({a_text}) else ({c_text}))"
        return text, lambda env: np.where(a(env) != 0, b(env), c(env))
    return f"clip({a_text}, {b_text}, {c_text})", lambda env: np.minimum(np.maximum(a(env), b(env)), c(env))


@settings(max_examples=300, deadline=None)
@given(_expressions())
def test_random_expressions_match_a_numpy_reference(case):
    text, reference = case
    f = parse_expression(text)
    env = {"x": X, "y": Y}
    with np.errstate(all="ignore"):
        expected = np.broadcast_to(np.asarray(reference(env), dtype=np.float64), X.shape)
    got = f(x=X, y=Y)
    assert got.shape == X.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0, equal_nan=True)
    # Scalars take the same path as arrays.
    scalar = f(x=float(X[3]), y=float(Y[3]))
    with np.errstate(all="ignore"):
        expected_scalar = float(np.asarray(reference({"x": float(X[3]), "y": float(Y[3])})))
    np.testing.assert_allclose(scalar, expected_scalar, rtol=1e-12, atol=0, equal_nan=True)


# --------------------------------------------------------------------------------------------
# Calls of many arguments: bounded by the parser's limits, evaluated one argument at a time


def _many_arguments(kind: str, n: int) -> tuple[str, list[float]]:
    """An expression of ``n`` operands ``x*c_i`` joined by ``kind``, and the constants c_i."""
    scales = [round(math.cos(i) + 1.5, 2) for i in range(n)]  # all positive: every operand is 'true'
    operands = [f"x*{c}" for c in scales]
    if kind in ("min", "max"):
        return f"{kind}({', '.join(operands)})", scales
    if kind == "comparison":
        return " <= ".join(operands), scales
    return f" {kind} ".join(operands), scales


def _peak_bytes(f: Expression, x: np.ndarray) -> tuple[np.ndarray, int]:
    import tracemalloc

    tracemalloc.start()
    try:
        out = f(x=x)
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["min", "max", "and", "or", "comparison"])
def test_many_operands_are_folded_one_at_a_time_not_held_at_once(kind):
    n = (ex.MAX_NODES - 2) // 3  # x*c is 3 parts: the most operands the node limit lets in
    text, scales = _many_arguments(kind, n)
    f = parse_expression(text)
    x = np.random.default_rng(0).uniform(0.5, 2.0, 50_000)
    out, peak = _peak_bytes(f, x)
    terms = [x * c for c in scales]
    if kind == "min":
        expected = functools.reduce(np.minimum, terms)
    elif kind == "max":
        expected = functools.reduce(np.maximum, terms)
    elif kind == "comparison":
        expected = functools.reduce(np.logical_and, [a <= b for a, b in zip(terms, terms[1:])]).astype(float)
    else:  # every operand is nonzero
        expected = np.ones_like(x)
    np.testing.assert_array_equal(out, expected)
    # Holding every operand would take n = 166 arrays; folding keeps a handful alive at a time.
    assert peak < 8 * x.nbytes, f"peak {peak / x.nbytes:.1f} arrays for {n} operands"


def test_a_min_of_ten_thousand_arguments_holds_a_few_arrays_whatever_the_limits(monkeypatch):
    monkeypatch.setattr(ex, "MAX_LENGTH", 10**6)
    monkeypatch.setattr(ex, "MAX_NODES", 10**5)
    text, scales = _many_arguments("min", 10_000)
    x = np.random.default_rng(1).uniform(-1.0, 1.0, 2_000)
    out, peak = _peak_bytes(parse_expression(text), x)
    np.testing.assert_array_equal(out, np.minimum(x * min(scales), x * max(scales)))
    assert peak < 8 * x.nbytes, f"peak {peak / x.nbytes:.1f} arrays for 10 000 arguments"


def test_the_parser_limits_bound_argument_counts():
    parse_expression("max(" + ",".join(["x"] * (ex.MAX_NODES - 2)) + ")")
    for text in ("max(" + ",".join(["x"] * ex.MAX_NODES) + ")", " or ".join(["x"] * ex.MAX_NODES), "<".join(["x"] * ex.MAX_NODES)):
        with pytest.raises(ExpressionError, match="too complex|too long"):
            parse_expression(text)


def test_folded_calls_of_constants_are_numbers_at_parse_time():
    f = parse_expression("min(3, 1, 2) + max(1, 5, 2) + (1 and 2 and 0) + (1 < 2 <= 2)")
    assert f.is_constant and f() == 1.0 + 5.0 + 0.0 + 1.0
    assert math.isnan(parse_expression("min(1, x, 2)")(x=math.nan))


# --------------------------------------------------------------------------------------------
# Non-finite values refused where the engine evaluates expressions


def test_evaluate_finite_names_the_expression_the_point_and_the_time():
    f = parse_expression("1/(1 - t)", source="case.toml", field="physics.f")
    points = np.array([[0.0, 0.5], [1.0, 1.0]])
    np.testing.assert_array_equal(f.evaluate_finite(points, t=0.5), [2.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing reaches stderr on the way
        with pytest.raises(ExpressionError) as info:
            f.evaluate_finite(points, t=1.0)
    err = info.value
    assert isinstance(err, InputError) and err.exit_code == 2
    assert (err.source, err.field, err.value) == ("case.toml", "physics.f", "1/(1 - t)")
    assert "not finite everywhere: it is inf at (0, 0.5), t = 1" in str(err)
    assert "2 of 2 points" in str(err)


def test_evaluate_finite_reports_the_first_bad_point_of_a_space_field():
    f = parse_expression("sqrt(x - 0.5) + log(y)", field="physics.k")
    points = np.array([[1.0, 1.0], [0.25, 1.0], [1.0, 0.0]])
    with pytest.raises(ExpressionError, match=r"physics.k: the expression is not finite everywhere: it is nan at \(0.25, 1\): got") as info:
        f.evaluate_finite(points)
    assert ", t =" not in str(info.value)  # the expression does not depend on time
    assert "2 of 3 points" in info.value.hint
    assert f.evaluate_finite(points[:1]).tolist() == [math.sqrt(0.5)]
