"""Safe user expressions: coefficients, sources and boundary values written as text.

A case file may give a value as a formula, for example ``"1 + 0.5*sin(pi*x)*y"``,
``"100*exp(-((x-0.5)^2 + (y-0.5)^2)/0.01)"``, ``"where(x < 0.5, 12, 3)"`` or
``"T0*(1 - exp(-t/tau))"``. :func:`parse_expression` turns such text into an
:class:`Expression` once; calling it evaluates the formula with numpy, elementwise and in
float64, as often as needed.

The text is never given to ``eval``, ``exec`` or ``compile``. It is parsed with
``ast.parse(..., mode="eval")`` and the tree is walked against a whitelist; every node that is
not on it is refused with an :class:`~engine.errors.ExpressionError` that names the construct
and its column. What is accepted becomes a tree of small closures over numpy ufuncs, with the
parts that do not depend on any variable folded into numbers at parse time.

Grammar
-------
numbers
    ``2``, ``0.5``, ``1e-3``, ``1_000`` (all become float64; a literal beyond the float64
    range is refused).
variables
    ``x``, ``y``, ``z``, ``t`` by default (see the ``variables`` argument).
parameters
    Named numbers from the case's ``[parameters]`` table, substituted when the text is parsed.
constants
    ``pi`` and ``e``.
arithmetic
    ``+ - * /``, unary ``+``/``-``, ``**`` and ``^`` for powers, parentheses. ``^`` means
    exactly ``**``: it binds tighter than the unary minus on its left and groups from the
    right, as in Python and Fortran, so ``-2^2 == -4``, ``2^-1 == 0.5`` and
    ``2^3^2 == 2^9 == 512`` (spreadsheets give ``64`` for the last; add parentheses when in
    doubt). ``%`` and ``//`` are refused; use ``mod(a, b)`` and ``floor(a/b)``.
comparisons
    ``< <= > >= == !=``, chained as in ``0.2 < x <= 0.8``; the result is 1.0 or 0.0.
logic
    ``and``, ``or``, ``not``, elementwise, with results 1.0 or 0.0 (not the operand, unlike
    Python). Any nonzero value, nan included, counts as true.
conditionals
    ``a if cond else b`` and ``where(cond, a, b)``, elementwise; both branches are computed.
functions
    See :data:`FUNCTIONS`: ``sin cos tan asin acos atan atan2 sinh cosh tanh exp log log10
    log2 sqrt abs sign floor ceil min max where heaviside clip hypot mod``, called by name with
    positional arguments only; the number of arguments is checked at parse time.

An expression that spans several lines must be wrapped in parentheses, as in Python. Comments
(``# ...``) are ignored.

Numerics: evaluation follows IEEE float64 with every numpy warning silenced, so ``1/0`` gives
``inf``, ``sqrt(-1)`` and ``log(-1)`` give ``nan``, ``(-8)^(1/3)`` gives ``nan`` and
``9^9^9`` gives ``inf`` (never a Python big-integer computation). The caller decides what to do
with non-finite values: :meth:`Expression.evaluate_finite` refuses them, naming the expression
and the first point (and time) where the value is not finite.

Limits against abuse: at most :data:`MAX_LENGTH` characters, :data:`MAX_NODES` parts and
:data:`MAX_DEPTH` levels of nesting. Every argument of a call and every operand of ``and``,
``or`` or a chained comparison is at least one part, so these bound argument counts too; and
such calls are evaluated one argument at a time, folded into the running value, so that their
memory does not grow with the number of arguments.

Examples
--------
>>> import numpy as np
>>> f = parse_expression("1 + 0.5*sin(pi*x)*y")
>>> sorted(f.names)
['x', 'y']
>>> f(x=np.array([0.0, 0.5, 1.5]), y=2.0)
array([1., 2., 0.])
>>> g = parse_expression("T0*(1 - exp(-t/tau))", parameters={"T0": 300.0, "tau": 2.0})
>>> g.depends_on_time(), g.is_constant
(True, False)
>>> round(g(t=2.0), 3)
189.636
>>> parse_expression("where(x < 0.5, 12, 3)").evaluate(np.array([[0.25, 0.0], [0.75, 0.0]]))
array([12.,  3.])
"""

from __future__ import annotations

import ast
import bisect
import difflib
import functools
import keyword
import math
import numbers
import operator
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from engine.errors import ExpressionError

__all__ = [
    "Expression",
    "parse_expression",
    "Function",
    "FUNCTIONS",
    "CONSTANTS",
    "MAX_LENGTH",
    "MAX_NODES",
    "MAX_DEPTH",
]

#: Longest accepted expression text, in characters.
MAX_LENGTH = 2000
#: Most parts (numbers, names, operations, calls) an expression may have.
MAX_NODES = 500
#: Deepest nesting of operations and calls an expression may have.
MAX_DEPTH = 50

#: The built-in constants.
CONSTANTS: Mapping[str, float] = MappingProxyType({"pi": math.pi, "e": math.e})

_DEFAULT_VARIABLES = ("x", "y", "z", "t")
_SPATIAL = ("x", "y", "z")

# Evaluation happens on a dict of variable values; every compiled node is either a folded
# constant (a float) or a callable of that dict.
_Env = dict[str, Any]
_Built = float | Callable[[_Env], Any]


# --------------------------------------------------------------------------------------------
# The functions


def _truth(value: Any) -> Any:
    return np.not_equal(value, 0.0)


def _as_float(flags: Any) -> Any:
    return flags.astype(np.float64) if isinstance(flags, np.ndarray) else np.float64(flags)


def _where(cond: Any, a: Any, b: Any) -> Any:
    return np.where(_truth(cond), a, b)


def _heaviside(value: Any, at_zero: Any = 1.0) -> Any:
    return np.heaviside(value, at_zero)


def _clip(value: Any, lo: Any, hi: Any) -> Any:
    return np.minimum(np.maximum(value, lo), hi)


def _minimum(*args: Any) -> Any:
    return functools.reduce(np.minimum, args)


def _maximum(*args: Any) -> Any:
    return functools.reduce(np.maximum, args)


def _not(value: Any) -> Any:
    return _as_float(np.equal(value, 0.0))


class Function(NamedTuple):
    """One function an expression may call (an entry of :data:`FUNCTIONS`).

    ``fold`` is set for functions of any number of arguments: the binary function that a call
    folds over its arguments as each one is evaluated, so that ``min`` of many arguments holds
    two values at a time, never all of them.
    """

    func: Callable[..., Any]
    min_args: int
    max_args: int | None  # None: no upper limit
    signature: str
    description: str
    fold: Callable[[Any, Any], Any] | None = None


def _f(func: Callable[..., Any], lo: int, hi: int | None, signature: str, text: str, *, fold: Callable[[Any, Any], Any] | None = None) -> Function:
    return Function(func, lo, hi, signature, text, fold)


#: The functions an expression may call, by name. All are elementwise over numpy arrays.
FUNCTIONS: Mapping[str, Function] = MappingProxyType(
    {
        "sin": _f(np.sin, 1, 1, "sin(a)", "sine (radians)"),
        "cos": _f(np.cos, 1, 1, "cos(a)", "cosine (radians)"),
        "tan": _f(np.tan, 1, 1, "tan(a)", "tangent (radians)"),
        "asin": _f(np.arcsin, 1, 1, "asin(v)", "inverse sine, in [-pi/2, pi/2]"),
        "acos": _f(np.arccos, 1, 1, "acos(v)", "inverse cosine, in [0, pi]"),
        "atan": _f(np.arctan, 1, 1, "atan(v)", "inverse tangent, in [-pi/2, pi/2]"),
        "atan2": _f(np.arctan2, 2, 2, "atan2(y, x)", "angle of the point (x, y), in [-pi, pi]"),
        "sinh": _f(np.sinh, 1, 1, "sinh(v)", "hyperbolic sine"),
        "cosh": _f(np.cosh, 1, 1, "cosh(v)", "hyperbolic cosine"),
        "tanh": _f(np.tanh, 1, 1, "tanh(v)", "hyperbolic tangent"),
        "exp": _f(np.exp, 1, 1, "exp(v)", "e to the power v"),
        "log": _f(np.log, 1, 1, "log(v)", "natural logarithm"),
        "log10": _f(np.log10, 1, 1, "log10(v)", "base-10 logarithm"),
        "log2": _f(np.log2, 1, 1, "log2(v)", "base-2 logarithm"),
        "sqrt": _f(np.sqrt, 1, 1, "sqrt(v)", "square root"),
        "abs": _f(np.absolute, 1, 1, "abs(v)", "absolute value"),
        "sign": _f(np.sign, 1, 1, "sign(v)", "-1, 0 or 1"),
        "floor": _f(np.floor, 1, 1, "floor(v)", "largest integer <= v"),
        "ceil": _f(np.ceil, 1, 1, "ceil(v)", "smallest integer >= v"),
        "min": _f(_minimum, 2, None, "min(a, b, ...)", "smallest argument (nan if any is nan)", fold=np.minimum),
        "max": _f(_maximum, 2, None, "max(a, b, ...)", "largest argument (nan if any is nan)", fold=np.maximum),
        "where": _f(_where, 3, 3, "where(cond, a, b)", "a where cond is nonzero, else b"),
        "heaviside": _f(
            _heaviside, 1, 2, "heaviside(v[, at_zero])", "0 for v < 0, 1 for v > 0, at_zero (1) at 0"
        ),
        "clip": _f(_clip, 3, 3, "clip(v, lo, hi)", "v limited to [lo, hi], i.e. min(max(v, lo), hi)"),
        "hypot": _f(np.hypot, 2, 2, "hypot(a, b)", "sqrt(a^2 + b^2) without overflow"),
        "mod": _f(np.mod, 2, 2, "mod(a, b)", "remainder of a/b, with the sign of b"),
    }
)

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
    ast.BitXor: np.power,  # never reached: '^' is rewritten to '**' before parsing
}

# Refused binary operators: (symbol, what, hint)
_BINARY_REFUSED: dict[type, tuple[str, str, str | None]] = {
    ast.Mod: ("%", "the '%' operator is not allowed", "Use mod(a, b) for the remainder."),
    ast.FloorDiv: ("//", "the '//' operator is not allowed", "Use floor(a/b)."),
    ast.MatMult: ("@", "the '@' operator is not allowed", None),
    ast.LShift: ("<<", "the '<<' operator is not allowed", None),
    ast.RShift: (">>", "the '>>' operator is not allowed", None),
    ast.BitAnd: ("&", "the '&' operator is not allowed", "Use 'and' to combine conditions."),
    ast.BitOr: ("|", "the '|' operator is not allowed", "Use 'or' to combine conditions."),
}

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}

# Refused node types: (what, hint)
_REFUSED_NODES: dict[type, tuple[str, str | None]] = {
    ast.Attribute: ("attribute access ('.') is not allowed", None),
    ast.Subscript: ("indexing with [...] is not allowed", None),
    ast.Slice: ("slices are not allowed", None),
    ast.Lambda: ("lambda functions are not allowed", None),
    ast.ListComp: ("comprehensions are not allowed", None),
    ast.SetComp: ("comprehensions are not allowed", None),
    ast.DictComp: ("comprehensions are not allowed", None),
    ast.GeneratorExp: ("comprehensions are not allowed", None),
    ast.List: ("lists [...] are not allowed", None),
    ast.Tuple: (
        "tuples (values separated by commas) are not allowed",
        "Commas only separate the arguments of a function call, such as min(x, y).",
    ),
    ast.Set: ("sets {...} are not allowed", None),
    ast.Dict: ("dictionaries {...} are not allowed", None),
    ast.Starred: ("starred arguments (*) are not allowed", None),
    ast.NamedExpr: ("assignments (:=) are not allowed", None),
    ast.JoinedStr: ("f-strings are not allowed", None),
    ast.FormattedValue: ("f-strings are not allowed", None),
    ast.Await: ("'await' is not allowed", None),
    ast.Yield: ("'yield' is not allowed", None),
    ast.YieldFrom: ("'yield' is not allowed", None),
}

# Names people reach for that we spell differently; only used for "did you mean" hints.
_ALIASES = {
    "ln": "log",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "arctan2": "atan2",
    "absolute": "abs",
    "fabs": "abs",
    "fmod": "mod",
    "minimum": "min",
    "maximum": "max",
    "step": "heaviside",
    "if": "where",
    "pow": "^",
    "power": "^",
}

# AST nodes that neither count as parts nor add nesting (operators and load/store markers).
_UNCOUNTED = (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)


# --------------------------------------------------------------------------------------------
# Source text bookkeeping

_NEWLINE = re.compile(r"\r\n|\r|\n")


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in _NEWLINE.finditer(text)]


class _Source:
    """The user's text, the text actually parsed, and the map between their positions.

    What is parsed is the text stripped of surrounding white space, with every ``^`` written
    as ``**`` (so that it gets the precedence of ``**``). Positions in error messages refer to
    the user's text.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        start = len(text) - len(text.lstrip())
        end = max(len(text.rstrip()), start)
        chunks: list[str] = []
        origin: list[int] = []
        for i in range(start, end):
            ch = text[i]
            if ch == "^":
                chunks.append("**")
                origin += [i, i]
            else:
                chunks.append(ch)
                origin.append(i)
        origin.append(end)
        self.parsed = "".join(chunks)
        self.origin = origin
        self.multiline = _NEWLINE.search(text, start, end) is not None
        self._parsed_lines = _line_starts(self.parsed)
        self._text_lines = _line_starts(text)

    def parsed_index(self, lineno: int | None, col: int | None, *, in_bytes: bool) -> int:
        """Index into the parsed text of a (1-based line, 0-based column) position."""
        if lineno is None or col is None:
            return len(self.parsed)
        line_no = min(max(lineno, 1), len(self._parsed_lines))
        start = self._parsed_lines[line_no - 1]
        stop = self._parsed_lines[line_no] if line_no < len(self._parsed_lines) else len(self.parsed)
        if in_bytes:  # AST columns count UTF-8 bytes
            col = len(self.parsed[start:stop].encode("utf-8")[: max(col, 0)].decode("utf-8", "ignore"))
        return min(start + max(col, 0), len(self.parsed))

    def location(self, index: int) -> str:
        """'column N' (or 'line L, column N') of a parsed-text index, in the user's text."""
        pos = self.origin[min(max(index, 0), len(self.origin) - 1)]
        line = bisect.bisect_right(self._text_lines, pos)
        column = pos - self._text_lines[line - 1] + 1
        return f"line {line}, column {column}" if self.multiline else f"column {column}"

    def node_span(self, node: ast.AST) -> tuple[int, int]:
        n: Any = node  # expression nodes all carry positions
        start = self.parsed_index(n.lineno, n.col_offset, in_bytes=True)
        end = self.parsed_index(n.end_lineno, n.end_col_offset, in_bytes=True)
        return start, max(end, start)

    def segment(self, start: int, end: int) -> str:
        """The user's text for the parsed-text span [start, end)."""
        if end <= start:
            return ""
        return self.text[self.origin[start] : self.origin[end - 1] + 1]


# --------------------------------------------------------------------------------------------
# The compiler: a whitelist walk from the AST to a closure tree


def _lift(built: _Built) -> Callable[[_Env], Any]:
    if callable(built):
        return built
    value = built
    return lambda env: value


def _apply(func: Callable[..., Any], args: list[_Built]) -> _Built:
    """``func`` applied to compiled arguments; folded to a float when all are constants."""
    if not any(callable(a) for a in args):
        with np.errstate(all="ignore"):
            return float(func(*args))
    fs = [_lift(a) for a in args]
    if len(fs) == 1:
        (f0,) = fs
        return lambda env: func(f0(env))
    if len(fs) == 2:
        f0, f1 = fs
        return lambda env: func(f0(env), f1(env))
    if len(fs) == 3:
        f0, f1, f2 = fs
        return lambda env: func(f0(env), f1(env), f2(env))
    return lambda env: func(*[f(env) for f in fs])


def _constant_or(evaluate: Callable[[_Env], Any], args: list[_Built]) -> _Built:
    """``evaluate`` as a compiled node, or its value now when no argument depends on a variable."""
    if any(callable(a) for a in args):
        return evaluate
    with np.errstate(all="ignore"):
        return float(evaluate({}))


def _fold(pairwise: Callable[[Any, Any], Any], args: list[_Built], *, each: Callable[[Any], Any] | None = None, finish: Callable[[Any], Any] | None = None) -> _Built:
    """``pairwise`` folded over the arguments, each evaluated only once the previous one is folded in.

    Evaluating all the arguments first, as ``func(*args)`` does, holds one array per argument at
    once: memory then grows with the argument count. ``each`` maps every argument before it is
    folded in (truth values for ``and``), ``finish`` maps the result.
    """
    first, *rest = [_lift(a) for a in args]

    def folded(env: _Env) -> Any:
        value = first(env) if each is None else each(first(env))
        for f in rest:
            value = pairwise(value, f(env) if each is None else each(f(env)))
        return value if finish is None else finish(value)

    return _constant_or(folded, args)


def _chained_comparison(ops: list[Callable[[Any, Any], Any]], operands: list[_Built]) -> _Built:
    """``a < b <= c ...`` as 1.0 or 0.0, holding two operands at a time (as :func:`_fold`)."""
    first, *rest = [_lift(a) for a in operands]

    def compare(env: _Env) -> Any:
        left = first(env)
        flags = None
        for op, f in zip(ops, rest):
            right = f(env)
            step = op(left, right)
            flags = step if flags is None else np.logical_and(flags, step)
            left = right
        return _as_float(flags)

    return _constant_or(compare, operands)


def _listing(names: Iterable[str], limit: int = 20) -> str:
    names = list(names)
    if len(names) > limit:
        names = names[:limit] + ["..."]
    return ", ".join(names)


class _Compiler:
    def __init__(
        self,
        source: _Source,
        variables: tuple[str, ...],
        parameters: dict[str, tuple[str, float]],
        where: tuple[str | None, str | None],
    ) -> None:
        self.source = source
        self.variables = variables
        self.parameters = parameters  # normalized name -> (name as given, value)
        self.where = where
        self.names_used: set[str] = set()
        self.parameters_used: dict[str, float] = {}

    # -- errors --------------------------------------------------------------------------------

    def expected(self) -> str:
        example = "1 + 0.5*sin(pi*x)" if "x" in self.variables else "1 + 2*pi"
        names = ", ".join(self.variables) if self.variables else "no variables"
        return f"an arithmetic expression in {names}, such as {example!r}"

    def error(
        self,
        problem: str,
        span: tuple[int, int] | None = None,
        *,
        at: int | None = None,
        value: Any = None,
        expected: str | None = None,
        hint: str | None = None,
    ) -> ExpressionError:
        if span is not None:
            at = span[0] if at is None else at
            if value is None:
                value = self.source.segment(*span)
        if at is not None:
            problem = f"{problem} ({self.source.location(at)})"
        return ExpressionError(
            problem,
            source=self.where[0],
            field=self.where[1],
            value=self.source.text if value is None else value,
            expected=expected or self.expected(),
            hint=hint,
        )

    def refuse(self, node: ast.AST, problem: str, hint: str | None = None) -> ExpressionError:
        return self.error(problem, self.source.node_span(node), hint=hint)

    def known_names(self) -> str:
        parts = []
        if self.variables:
            parts.append("the variables " + ", ".join(self.variables))
        if self.parameters:
            parts.append("the parameters " + _listing(v[0] for v in self.parameters.values()))
        parts.append("the constants " + ", ".join(CONSTANTS))
        return "one of " + ", ".join(parts) + ", or a function: " + ", ".join(FUNCTIONS)

    def suggestion(self, name: str, candidates: Iterable[str]) -> str | None:
        candidates = list(candidates)
        if name in _ALIASES and (_ALIASES[name] in candidates or _ALIASES[name] == "^"):
            guess = _ALIASES[name]
            return "Write a^b for powers." if guess == "^" else f"Did you mean {guess!r}?"
        lowered = {c.lower(): c for c in candidates}
        if name.lower() in lowered:
            return f"Did you mean {lowered[name.lower()]!r}? Names are case-sensitive."
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        return f"Did you mean {close[0]!r}?" if close else None

    # -- the walk ------------------------------------------------------------------------------

    def build(self, node: ast.AST) -> _Built:
        method = self._ALLOWED.get(type(node))
        if method is not None:
            return method(self, node)
        generic = (f"{type(node).__name__} expressions are not allowed", None)
        what, hint = _REFUSED_NODES.get(type(node), generic)
        raise self.refuse(node, what, hint)

    def _Constant(self, node: ast.Constant) -> _Built:
        value = node.value
        if isinstance(value, bool):
            raise self.refuse(node, "True and False are not allowed", "Write 1 or 0.")
        if isinstance(value, (int, float)):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                raise self.error(
                    "number out of range",
                    self.source.node_span(node),
                    expected="a number of at most about 1.8e308 in size (float64)",
                )
            return number
        if isinstance(value, complex):
            raise self.refuse(node, "complex numbers (such as 2j) are not allowed")
        if isinstance(value, str):
            raise self.refuse(node, "strings are not allowed", "Write the expression without quotes.")
        if isinstance(value, bytes):
            raise self.refuse(node, "bytes literals are not allowed")
        if value is None:
            raise self.refuse(node, "None is not allowed")
        if value is Ellipsis:
            raise self.refuse(node, "'...' is not allowed")
        raise self.refuse(node, f"constants of type {type(value).__name__} are not allowed")

    def _Name(self, node: ast.Name) -> _Built:
        name = node.id
        if name in self.variables:
            self.names_used.add(name)
            return operator.itemgetter(name)
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in self.parameters:
            given, value = self.parameters[name]
            self.parameters_used[given] = value
            return value
        span = self.source.node_span(node)
        if name in FUNCTIONS:
            raise self.error(
                f"{name} is a function, used without arguments",
                span,
                value=name,
                expected=f"a call such as {FUNCTIONS[name].signature}",
            )
        candidates = [*self.variables, *(v[0] for v in self.parameters.values()), *CONSTANTS, *FUNCTIONS]
        raise self.error(
            "unknown name",
            span,
            value=name,
            expected=self.known_names(),
            hint=self.suggestion(name, candidates),
        )

    def _BinOp(self, node: ast.BinOp) -> _Built:
        # A long sum or product ("a + b + c + ...") is a chain down the left operands; walk it
        # with a loop rather than recursion so that its length is limited by MAX_NODES only.
        chain = [node]
        while isinstance(chain[-1].left, ast.BinOp):
            chain.append(chain[-1].left)
        for link in chain:
            op = type(link.op)
            if op in _BINARY_REFUSED:
                symbol, what, hint = _BINARY_REFUSED[op]
                span = self.source.node_span(link)
                left_end = self.source.node_span(link.left)[1]
                right_start = self.source.node_span(link.right)[0]
                found = self.source.parsed.find(symbol, left_end, right_start)
                raise self.error(what, span, at=found if found >= 0 else None, hint=hint)
            if op not in _BINARY:  # pragma: no cover - every Python operator is listed
                raise self.refuse(link, f"the operator {op.__name__} is not allowed")
        built = self.build(chain[-1].left)
        for link in reversed(chain):
            built = _apply(_BINARY[type(link.op)], [built, self.build(link.right)])
        return built

    def _UnaryOp(self, node: ast.UnaryOp) -> _Built:
        if isinstance(node.op, ast.Invert):
            raise self.refuse(node, "the '~' operator is not allowed", "Use 'not' to negate a condition.")
        operand = self.build(node.operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.USub):
            return _apply(np.negative, [operand])
        return _apply(_not, [operand])  # ast.Not

    def _BoolOp(self, node: ast.BoolOp) -> _Built:
        pairwise = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return _fold(pairwise, [self.build(v) for v in node.values], each=_truth, finish=_as_float)

    def _Compare(self, node: ast.Compare) -> _Built:
        ops = []
        for op in node.ops:
            if type(op) not in _COMPARE:
                words = {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
                raise self.refuse(
                    node,
                    f"the '{words.get(type(op), type(op).__name__)}' comparison is not allowed",
                    "Compare numbers with <, <=, >, >=, == or !=.",
                )
            ops.append(_COMPARE[type(op)])
        operands = [self.build(node.left)] + [self.build(c) for c in node.comparators]
        return _chained_comparison(ops, operands)

    def _IfExp(self, node: ast.IfExp) -> _Built:
        return _apply(_where, [self.build(node.test), self.build(node.body), self.build(node.orelse)])

    def _Call(self, node: ast.Call) -> _Built:
        if not isinstance(node.func, ast.Name):
            raise self.refuse(
                node,
                "only functions named directly can be called",
                "Call one of the listed functions by name, such as sin(x).",
            )
        name = node.func.id
        span = self.source.node_span(node)
        if name not in FUNCTIONS:
            if name in self.variables or name in CONSTANTS or name in self.parameters:
                raise self.error(
                    f"{name} is not a function", span, value=name, expected="a function: " + ", ".join(FUNCTIONS)
                )
            raise self.error(
                "unknown function",
                span,
                value=name,
                expected="one of " + ", ".join(FUNCTIONS),
                hint=self.suggestion(name, FUNCTIONS),
            )
        function = FUNCTIONS[name]
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.refuse(arg, "starred arguments (*) are not allowed")
        if node.keywords:
            raise self.error(
                "keyword arguments (name=value) are not allowed",
                span,
                hint=f"Give the arguments in order: {function.signature}.",
            )
        n = len(node.args)
        lo, hi = function.min_args, function.max_args
        if n < lo or (hi is not None and n > hi):
            if hi is None:
                wanted = f"at least {lo} argument{'s' * (lo != 1)}"
            elif lo == hi:
                wanted = f"{lo} argument{'s' * (lo != 1)}"
            else:
                wanted = f"{lo} or {hi} arguments" if hi == lo + 1 else f"{lo} to {hi} arguments"
            raise self.error(f"{name} takes {wanted}, got {n}", span, expected=function.signature)
        args = [self.build(a) for a in node.args]
        return _apply(function.func, args) if function.fold is None else _fold(function.fold, args)

    # The whitelist: the only node types that compile; every other one is refused.
    _ALLOWED: dict[type, Callable[[_Compiler, Any], _Built]] = {
        ast.Constant: _Constant,
        ast.Name: _Name,
        ast.BinOp: _BinOp,
        ast.UnaryOp: _UnaryOp,
        ast.BoolOp: _BoolOp,
        ast.Compare: _Compare,
        ast.IfExp: _IfExp,
        ast.Call: _Call,
    }


# --------------------------------------------------------------------------------------------
# Checks on the input


def _check_name(name: Any, kind: str, where: tuple[str | None, str | None]) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ExpressionError(
            f"{kind} name is not a usable name",
            source=where[0],
            field=where[1],
            value=name,
            expected="a name made of letters, digits and '_' that does not start with a digit",
        )
    if name in FUNCTIONS or name in CONSTANTS:
        raise ExpressionError(
            f"{kind} name shadows a built-in {'function' if name in FUNCTIONS else 'constant'}",
            source=where[0],
            field=where[1],
            value=name,
            expected="a name other than " + ", ".join([*CONSTANTS, *FUNCTIONS]),
        )
    return name


def _check_variables(variables: Iterable[str], where: tuple[str | None, str | None]) -> tuple[str, ...]:
    if isinstance(variables, str):
        raise TypeError("variables must be an iterable of names, not a single string")
    out: list[str] = []
    for name in variables:
        _check_name(name, "variable", where)
        if unicodedata.normalize("NFKC", name) != name:
            raise ExpressionError(
                "variable name is not in normal form (NFKC)",
                source=where[0],
                field=where[1],
                value=name,
                expected=repr(unicodedata.normalize("NFKC", name)),
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def _check_parameters(
    parameters: Mapping[str, float] | None, variables: tuple[str, ...], where: tuple[str | None, str | None]
) -> dict[str, tuple[str, float]]:
    out: dict[str, tuple[str, float]] = {}
    if not parameters:
        return out
    if not isinstance(parameters, Mapping):
        raise TypeError(f"parameters must be a mapping of names to numbers, not {type(parameters).__name__}")
    for name, value in parameters.items():
        _check_name(name, "parameter", where)
        if name in variables:
            raise ExpressionError(
                "parameter name shadows a variable",
                source=where[0],
                field=where[1],
                value=name,
                expected="a name other than " + ", ".join(variables),
            )
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            number = None
        else:
            try:
                number = float(value)
            except (OverflowError, ValueError, TypeError):
                number = None
        if number is None or not math.isfinite(number):
            raise ExpressionError(
                f"parameter {name!r} is not a finite number",
                source=where[0],
                field=where[1],
                value=value,
                expected="a finite real number",
            )
        out[unicodedata.normalize("NFKC", name)] = (name, number)
    return out


def _measure(tree: ast.AST) -> tuple[int, int]:
    """(number of parts, nesting depth) of a tree, without recursion."""
    count = 0
    deepest = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        deepest = max(deepest, depth)
        if count - 1 > MAX_NODES or deepest > MAX_DEPTH:
            break
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, _UNCOUNTED):
                # The left operand of a binary operation continues a flat chain such as
                # "a + b + c" (compiled with a loop), so it does not count as nesting.
                flat = isinstance(node, ast.BinOp) and child is node.left
                stack.append((child, depth if flat else depth + 1))
    return count - 1, deepest  # the ast.Expression wrapper is no part


# --------------------------------------------------------------------------------------------
# The public API


class Expression:
    """A parsed expression, ready to evaluate many times.

    Create one with :func:`parse_expression` (``Expression(text, ...)`` takes the same
    arguments). Parameters were substituted at parse time; only the variables are given when
    evaluating.

    Attributes
    ----------
    text : str
        The text as the user wrote it.
    names : frozenset of str
        The variables the expression uses (neither functions, constants nor parameters).
    variables : tuple of str
        The variables it was allowed to use.
    parameters : Mapping[str, float]
        The parameters it uses, with the values substituted.

    Examples
    --------
    >>> import numpy as np
    >>> f = Expression("100*exp(-((x-0.5)^2 + (y-0.5)^2)/0.01)")
    >>> f
    Expression('100*exp(-((x-0.5)^2 + (y-0.5)^2)/0.01)')
    >>> f(x=0.5, y=0.5)
    100.0
    >>> f.evaluate(np.array([[0.5, 0.5], [0.6, 0.5]])).round(3)
    array([100.   ,  36.788])
    """

    __slots__ = ("_text", "_names", "_variables", "_parameters", "_source", "_field", "_evaluator", "_constant")

    def __init__(
        self,
        text: str,
        *,
        variables: Iterable[str] = _DEFAULT_VARIABLES,
        parameters: Mapping[str, float] | None = None,
        source: str | None = None,
        field: str | None = None,
    ) -> None:
        where = (None if source is None else str(source), field)
        self._source = where[0]
        self._field = field
        self._variables = _check_variables(variables, where)
        params = _check_parameters(parameters, self._variables, where)

        def fail(problem: str, expected: str, hint: str | None = None) -> ExpressionError:
            return ExpressionError(problem, source=where[0], field=field, value=text, expected=expected, hint=hint)

        example = "an arithmetic expression such as '1 + 0.5*sin(pi*x)'"
        if not isinstance(text, str):
            raise fail(f"expression is not text but {type(text).__name__}", "a string with " + example)
        if not text.strip():
            raise fail("empty expression", example)
        if len(text) > MAX_LENGTH:
            raise fail(f"expression is too long ({len(text)} characters)", f"at most {MAX_LENGTH} characters")

        src = _Source(text)
        compiler = _Compiler(src, self._variables, params, where)
        too_deep = f"at most {MAX_DEPTH} levels of nested operations and calls"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(src.parsed, mode="eval")
        except SyntaxError as exc:
            message = str(exc.msg or "invalid syntax")
            if exc.offset is not None and exc.offset >= 1:
                at = src.parsed_index(exc.lineno, exc.offset - 1, in_bytes=False)
                message += f" at {src.location(at)}"
            elif exc.offset is not None:
                message += " at the end"
            hint = None
            if src.multiline:
                hint = "To write an expression over several lines, wrap all of it in parentheses."
            raise fail(f"could not parse the expression ({message})", compiler.expected(), hint) from None
        except ValueError as exc:  # null bytes, unencodable characters (surrogates)
            raise fail(f"could not parse the expression ({exc})", compiler.expected()) from None
        except (RecursionError, MemoryError):
            raise fail("expression is nested too deeply", too_deep) from None

        count, depth = _measure(tree)
        if count > MAX_NODES:
            raise fail(f"expression is too complex (more than {MAX_NODES} parts)", f"at most {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise fail(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", too_deep)
        try:
            built = compiler.build(tree.body)  # type: ignore[attr-defined]
        except RecursionError:  # pragma: no cover - the depth limit comes first
            raise fail("expression is nested too deeply", too_deep) from None

        self._text = text
        self._names = frozenset(compiler.names_used)
        self._parameters: Mapping[str, float] = MappingProxyType(dict(compiler.parameters_used))
        if callable(built):
            self._evaluator: Callable[[_Env], Any] | None = built
            self._constant = math.nan
        else:
            self._evaluator = None
            self._constant = float(built)

    # -- attributes ----------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The source text, exactly as given."""
        return self._text

    @property
    def names(self) -> frozenset[str]:
        """The variables the expression uses."""
        return self._names

    @property
    def variables(self) -> tuple[str, ...]:
        """The variables the expression was allowed to use."""
        return self._variables

    @property
    def parameters(self) -> Mapping[str, float]:
        """The parameters the expression uses, with their substituted values."""
        return self._parameters

    @property
    def is_constant(self) -> bool:
        """True when the value depends on no variable (parameters and constants allowed).

        Examples
        --------
        >>> parse_expression("2*k + pi", parameters={"k": 1.5}).is_constant
        True
        >>> parse_expression("2*x").is_constant
        False
        """
        return not self._names

    def depends_on_time(self) -> bool:
        """True when the expression uses ``t``.

        Examples
        --------
        >>> parse_expression("x*exp(-t)").depends_on_time()
        True
        """
        return "t" in self._names

    # -- evaluation ----------------------------------------------------------------------------

    def __call__(self, **values: ArrayLike | float) -> np.ndarray | float:
        """Evaluate with the given variable values, broadcasting them against each other.

        Parameters
        ----------
        **values
            A value for each variable in :attr:`names` (more of :attr:`variables` may be
            given; they take part in broadcasting). Numbers or array-likes.

        Returns
        -------
        numpy.ndarray or float
            A float64 array with the broadcast shape of all the values given when any of them
            is an array, a float otherwise. The array is always new (never one of the inputs).

        Raises
        ------
        TypeError
            A value is missing for a variable used, a name is not a variable, or a value is
            not numeric.

        Examples
        --------
        >>> import numpy as np
        >>> f = parse_expression("x^2 + y")
        >>> f(x=3, y=1)
        10.0
        >>> f(x=np.array([1.0, 2.0]), y=np.array([[0.0], [10.0]]))
        array([[ 1.,  4.],
               [11., 14.]])
        >>> parse_expression("2").__call__(x=np.zeros(3))
        array([2., 2., 2.])
        """
        env: _Env = {}
        arrays: list[np.ndarray] = []
        for name, value in values.items():
            if name not in self._variables:
                if name in self._parameters:
                    raise TypeError(f"{name!r} is a parameter of {self!r}, fixed when it was parsed")
                known = ", ".join(self._variables)
                raise TypeError(f"{name!r} is not a variable of {self!r}; its variables are {known}")
            if isinstance(value, numbers.Real) and not isinstance(value, np.ndarray):
                env[name] = float(value)
                continue
            try:
                array = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"the value of {name!r} is not numeric: {exc}") from None
            env[name] = array
            arrays.append(array)
        missing = self._names.difference(env)
        if missing:
            raise TypeError(f"{self!r} needs a value for {', '.join(sorted(missing))}")
        if self._evaluator is None:
            result: Any = self._constant
        else:
            with np.errstate(all="ignore"):
                result = self._evaluator(env)
        if not arrays:
            return float(result)
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        if isinstance(result, np.ndarray) and result.shape == shape and not any(result is a for a in arrays):
            return result if result.dtype == np.float64 else result.astype(np.float64)
        out = np.empty(shape, dtype=np.float64)
        out[...] = result
        return out

    def evaluate(self, points: np.ndarray, t: float = 0.0, **parameters: ArrayLike | float) -> np.ndarray:
        """Evaluate at points, one value per point.

        Parameters
        ----------
        points : array_like, shape (n, d)
            Coordinates, d from 1 to 3; the columns are x, y, z and a missing column is 0.
        t : float
            The time.
        **parameters
            Values of any further variables the expression was given at parse time (the
            ``[parameters]`` of a case were substituted then and are not given here).

        Returns
        -------
        numpy.ndarray, shape (n,)
            A new float64 array, also for a constant expression.

        Examples
        --------
        >>> import numpy as np
        >>> parse_expression("x + 10*y").evaluate(np.array([[1.0], [2.0]]))
        array([1., 2.])
        >>> parse_expression("3").evaluate(np.zeros((2, 3)))
        array([3., 3.])
        """
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or not 1 <= pts.shape[1] <= 3:
            raise ValueError(f"points must have shape (n, d) with d in 1..3, got shape {pts.shape}")
        n, d = pts.shape
        values: dict[str, Any] = {}
        for i, name in enumerate(_SPATIAL):
            if name in self._variables:
                values[name] = pts[:, i] if i < d else 0.0
        if "t" in self._variables:
            values["t"] = t
        for name, value in parameters.items():
            if name in _SPATIAL or name == "t":
                raise TypeError(f"{name!r} comes from the points and t; do not give it again")
            values[name] = value
        result = self(**values)
        if isinstance(result, np.ndarray) and result.shape == (n,):
            return result  # already a new float64 array
        out = np.empty(n, dtype=np.float64)
        out[...] = result
        return out

    def evaluate_finite(self, points: np.ndarray, t: float = 0.0, **parameters: ArrayLike | float) -> np.ndarray:
        """:meth:`evaluate`, refusing values that are not finite, with the first point where one is.

        What the engine gives a solver goes through here: an infinite source (``1/(1 - t)`` at
        ``t = 1``) or a ``nan`` conductivity (``sqrt(x - 1)``) is the user's input to fix, and
        is said so naming the expression, the point and the time, rather than surfacing later
        as a singular matrix.

        Raises
        ------
        ExpressionError
            Some value is ``inf`` or ``nan``.

        Examples
        --------
        >>> import numpy as np
        >>> parse_expression("1/(1 - t)", field="physics.f").evaluate_finite(np.zeros((1, 2)), t=1.0)
        Traceback (most recent call last):
          ...
        engine.errors.ExpressionError: physics.f: the expression is not finite everywhere: it is inf at (0, 0), t = 1: got '1/(1 - t)'; expected ...
        """
        values = self.evaluate(points, t, **parameters)
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            point = np.asarray(points, dtype=np.float64)[first]
            where = "(" + ", ".join(f"{c:.6g}" for c in point) + ")"
            if self.depends_on_time():
                where += f", t = {t:.6g}"
            count = f"{int(bad.sum())} of {bad.size} points are not finite. " if bad.size > 1 else ""
            raise ExpressionError(
                f"the expression is not finite everywhere: it is {values[first]:g} at {where}",
                source=self._source,
                field=self._field,
                value=self._text,
                expected="an expression that is finite wherever (and whenever) it is evaluated",
                hint=count + "Dividing by zero, log(0) or an overflow gives inf; sqrt or log of a negative number gives nan",
            )
        return values

    # -- plumbing ------------------------------------------------------------------------------

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Expression({self._text!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The closures do not pickle; parsing again is cheap and gives the same expression.
        kwargs = {
            "variables": self._variables,
            "parameters": dict(self._parameters),
            "source": self._source,
            "field": self._field,
        }
        return (_rebuild, (self._text, kwargs))


def _rebuild(text: str, kwargs: dict[str, Any]) -> Expression:
    return Expression(text, **kwargs)


def parse_expression(
    text: str,
    *,
    variables: Iterable[str] = _DEFAULT_VARIABLES,
    parameters: Mapping[str, float] | None = None,
    source: str | None = None,
    field: str | None = None,
) -> Expression:
    """Parse a user's expression once, checking everything that can be checked before use.

    Parameters
    ----------
    text : str
        The expression, such as ``"1 + 0.5*sin(pi*x)*y"``. See the module documentation for
        the grammar.
    variables : iterable of str
        The names given values when evaluating; ``x, y, z, t`` by default.
    parameters : mapping of str to float, optional
        Named numbers (a case's ``[parameters]``), substituted now. Their names may not be
        those of variables, functions or constants.
    source, field : str, optional
        The file and the field the text came from, for error messages.

    Returns
    -------
    Expression

    Raises
    ------
    ExpressionError
        The text is not a string, is empty, too long, too complex, does not parse, uses a
        construct, name or function that is not allowed, calls a function with the wrong
        number of arguments; or a parameter has a bad name or value.

    Examples
    --------
    >>> parse_expression("where(x < 0.5, 12, 3)")(x=0.2)
    12.0
    >>> parse_expression("-2^2")()
    -4.0
    >>> parse_expression("0 < x <= 1")(x=1.0)
    1.0
    >>> parse_expression("k*x", parameters={"k": 2.0})(x=4.0)
    8.0
    >>> parse_expression("x.__class__", field="source")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    engine.errors.ExpressionError: source: attribute access ('.') is not allowed (column 1): ...
    >>> parse_expression("sin(x, y)")
    Traceback (most recent call last):
      ...
    engine.errors.ExpressionError: sin takes 1 argument, got 2 (column 1): got 'sin(x, y)'; expected sin(a)
    """
    return Expression(text, variables=variables, parameters=parameters, source=source, field=field)
