"""Parsing source text without ever crashing the stage that does it.

Every stage that parses corpus code (``corpus`` for the syntax flag, ``mask``,
``properties``, the benchmark rewrites) goes through these helpers, so that a file or
function CPython, ``ast``, ``radon`` or tree-sitter cannot handle becomes a counted skip
with a reason instead of an exception that takes the workflow down.

- :func:`recursion_budget` bounds the recursion available to a parse or a tree walk:
  the interpreter limit is set to the current depth + ``RECURSION_BUDGET`` frames for the
  duration (never higher; an environment that raised the process limit cannot make a
  deep file overflow the C stack), so the same file fails or passes at any call depth.
- :func:`failure_reason` names an exception the way skip tables report it.
- :func:`parse_python` parses text as CPython does (a leading byte-order mark is not
  code), inside the budget, and returns ``(tree, None)`` or ``(None, (reason, detail))``.
"""

from __future__ import annotations

import ast
import contextlib
import sys
import warnings

# Frames of recursion a parse or tree walk may use beyond the depth it starts at.
# CPython's own default limit is 1000, which every stdlib file fits (radon's visitors
# use ~2-3 frames per nesting level); more buys little and risks the C stack.
RECURSION_BUDGET = 1000

# What a parser or a recursive tree walk raises on input it cannot handle.
PARSE_FAILURES = (SyntaxError, ValueError, RecursionError, MemoryError)

BOM = "\ufeff"


def _depth() -> int:
    f, n = sys._getframe(), 0
    while f is not None:
        n += 1
        f = f.f_back
    return n


@contextlib.contextmanager
def recursion_budget(frames: int = RECURSION_BUDGET):
    """Run the body with exactly ``frames`` frames of recursion available."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(_depth() + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def failure_reason(exc: BaseException) -> tuple[str, str]:
    """``(reason, detail)`` for a parse/analysis failure: ``syntax_error`` (incl.
    indentation and tab errors), ``recursion_limit``, ``memory_error`` (CPython's parser
    raises it for some deep nesting), ``value_error`` (e.g. null bytes, surrogates),
    else ``error``; the detail is the exception type and message, one line."""
    if isinstance(exc, SyntaxError):
        reason = "syntax_error"
        msg = f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})"
    else:
        reason = ("recursion_limit" if isinstance(exc, RecursionError) else
                  "memory_error" if isinstance(exc, MemoryError) else
                  "value_error" if isinstance(exc, ValueError) else "error")
        msg = f"{type(exc).__name__}: {exc}"
    msg = " ".join(msg.split())
    return reason, msg[:300]


def strip_bom(text: str) -> str:
    """``text`` without a leading byte-order mark: CPython drops it when it decodes a
    file; ``ast.parse`` of a str would reject it as a non-printable character. Offsets
    of the rest shift by one character on the first line only (line numbers do not)."""
    return text[1:] if text.startswith(BOM) else text


def parse_python(text: str, mode: str = "exec"):
    """``(tree, None)``, or ``(None, (reason, detail))`` when CPython cannot parse it."""
    try:
        with recursion_budget(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(strip_bom(text), mode=mode), None
    except PARSE_FAILURES as exc:
        return None, failure_reason(exc)
