"""Static properties against hand-computed answers."""
import pytest

from swejepa.masks import mask_file
from swejepa.properties import file_properties

SRC = '''import os
import json
from collections import deque


def add(a, b):
    return a + b


def classify(x):
    if x < 0:
        return "neg"
    elif x == 0:
        return "zero"
    return "pos"


def total(items):
    s = 0
    for it in items:
        while it > 10:
            it -= 10
        s += it
    return s


def save(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh)


def push(queue, item):
    queue.append(item)


def local_only(n):
    out = []
    for i in range(n):
        out.append(i * i)
    return out


def make_deque(xs) -> deque:
    return deque(xs)


def maybe(x) -> "int | None":
    return x if x else None


def listing(root):
    names = os.listdir(root)
    return [n for n in names if n.endswith(".py")]


class Counter:
    def bump(self):
        self.n += 1

    def get(self) -> int:
        return self.n


def gen(n):
    for i in range(n):
        yield i


def nothing(x):
    x = x + 1
'''

EXPECTED = {
    # qualname: (cyclomatic, branches, loops, return_category, side_effects, external_calls, loc)
    "add": (1, 0, 0, "primitive", False, 0, 2),
    "classify": (3, 2, 0, "primitive", False, 0, 6),
    "total": (3, 0, 2, "custom", False, 0, 7),
    "save": (1, 0, 0, "none", True, 1, 3),
    "push": (1, 0, 0, "none", True, 0, 2),
    "local_only": (2, 0, 1, "custom", False, 0, 5),
    "make_deque": (1, 0, 0, "collection", False, 1, 2),
    "maybe": (2, 1, 0, "primitive", False, 0, 2),
    "listing": (3, 0, 0, "collection", True, 1, 3),  # os.listdir reads the file system: I/O
    "Counter.bump": (1, 0, 0, "none", True, 0, 2),
    "Counter.get": (1, 0, 0, "primitive", False, 0, 2),
    "gen": (2, 0, 1, "collection", False, 0, 3),
    "nothing": (1, 0, 0, "none", False, 0, 2),
}


@pytest.fixture(scope="module")
def props():
    regions, _ = mask_file(SRC, "ast")
    regions = [r for r in regions if r["kind"] in ("function", "method")]
    rows, failed = file_properties(SRC, regions)
    assert failed == 0
    return {r["qualname"]: r for r in rows}


@pytest.mark.parametrize("qualname", sorted(EXPECTED))
def test_hand_computed(props, qualname):
    r = props[qualname]
    got = (r["cyclomatic"], r["n_branches"], r["n_loops"], r["return_category"], r["side_effects"],
           r["n_external_calls"], r["loc"])
    assert got == EXPECTED[qualname]


def test_each_function_counted_once(props):
    assert len(props) == len(EXPECTED)


def test_unparsable_file_falls_back_to_function_snippets():
    src = "def ok(x):\n    if x:\n        return 1\n    return 2\n\ndef broken(:\n    pass\n"
    regions, _ = mask_file(src, "ast")
    rows, failed = file_properties(src, [r for r in regions if r["kind"] == "function"])
    assert [r["qualname"] for r in rows] == ["ok"]
    assert rows[0]["cyclomatic"] == 2 and rows[0]["n_branches"] == 1 and rows[0]["parse_ok"]


# ----------------------------------------------------------------------------- issue 15

import sys  # noqa: E402

from swejepa.properties import RADON_MAX_LINES, corpus_properties, sloc, sloc_linear  # noqa: E402

DEEP = ("def fine(x):\n    return x + 1\n\n\n"
        "def deep(x):\n    return " + "+".join(["x"] * 100_000) + "\n\n\n"        # RecursionError in ast
        "def nested(x):\n    y = " + "-" * 50_000 + "x\n    return y\n\n\n"         # MemoryError in the parser
        "def wide(x):\n    y = " + "+".join(["x"] * 800) + "\n    return y\n\n\n"   # parses; recursion in radon
        "def after(x):\n    if x:\n        return 1\n    return 2\n")


def _props(src, path="deep.py"):
    files = [{"file_id": 0, "path": path, "split": "train", "package": "p", "content": src}]
    return corpus_properties(files, mask_file(src, "ast")[0])


def test_deep_nesting_is_a_counted_skip_not_a_crash():
    rows, rep = _props(DEEP)
    by = {r["qualname"]: r for r in rows}
    assert list(by) == ["fine", "deep", "nested", "wide", "after"]  # one row per function region
    assert by["fine"]["parse_ok"] and by["after"]["parse_ok"] and by["after"]["cyclomatic"] == 2
    skipped = {s["qualname"]: s for s in rep["skipped_functions"]}
    assert set(skipped) == {"deep", "nested", "wide"} and rep["n_unparsable"] == 3
    assert skipped["deep"]["reason"] == "recursion_limit" and skipped["nested"]["reason"] == "memory_error"
    assert all(s["path"] == "deep.py" and s["detail"] for s in skipped.values())
    assert sum(rep["skipped_by_reason"].values()) == 3


def test_recursion_budget_does_not_depend_on_call_depth_or_the_process_limit():
    baseline = _props(DEEP)

    def at_depth(n):
        return at_depth(n - 1) if n else _props(DEEP)

    old = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(5000)
        assert at_depth(3000) == baseline          # deep in the stack: same budget
        sys.setrecursionlimit(1_000_000)             # an environment that raised the limit
        assert _props(DEEP) == baseline              # still bounded (no C stack overflow)
    finally:
        sys.setrecursionlimit(old)


def test_bom_crlf_and_cr_only_files_parse():
    for src in ("\ufeffdef f(a):\r\n    b = a\r\n    return b\r\n", "def f(a):\r    b = a\r    return b\r"):
        rows, rep = _props(src)
        assert rep["n_unparsable"] == 0 and rows[0]["parse_ok"] and rows[0]["loc"] == 3


def test_sloc_is_radon_and_linear_for_long_definitions():
    from radon.raw import analyze

    for r in mask_file(SRC, "ast")[0]:
        if r["kind"] in ("function", "method"):
            src = SRC[r["sig_start_char"]:r["body_end_char"]]
            assert sloc(src) == sloc_linear(src) == analyze(src).sloc
    long_doc = 'def f():\n    """' + "doc line\n" * (20 * RADON_MAX_LINES) + '    """\n    x = 1\n    return x\n'
    assert sloc(long_doc) == 3  # def, x = 1, return (radon's answer; its own algorithm is quadratic here)
    long_stmt = "def g():\n    x = [\n" + "        1,\n" * (2 * RADON_MAX_LINES) + "    ]\n    return x\n"
    assert sloc(long_stmt) == 2 * RADON_MAX_LINES + 4
