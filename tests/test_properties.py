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
