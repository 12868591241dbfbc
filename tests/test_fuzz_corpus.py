"""Fuzz: pathological files (tests/pathological.py: deep nesting, long expressions,
BOM/CRLF/CR, form feeds, tabs mixed with spaces, Python 2, NUL bytes, non-UTF-8 and
coding lines, huge lines, thousands of functions, async/match, decorators, ... and
seeded random byte mutations of real code) through corpus, masks, properties and the
benchmark's rewrites. Nothing may raise; every file is accounted for; CPython is the
oracle for decoding and the syntax flag; every span offset indexes the kept text."""
import ast
import re
import sys
from importlib.util import decode_source
from pathlib import Path

import pytest

from swejepa.phase0.bench import region_source, sample_heldout
from swejepa.phase0.rewrites import rewrite_all
from swejepa.corpus import REASONS, build_corpus, report
from swejepa.masks import FUNCTION_KINDS, mask_corpus
from swejepa.parsing import recursion_budget
from swejepa.properties import corpus_properties
from swejepa.settings import BenchSettings, CorpusSettings

sys.path.insert(0, str(Path(__file__).parent))
import pathological  # noqa: E402

FAILURE_REASONS = {"syntax_error", "recursion_limit", "memory_error", "value_error", "error"}


def cpython_rejects(data: bytes) -> bool:
    """CPython's own verdict on the file's bytes (decoding and parsing), in the budget."""
    try:
        with recursion_budget():
            compile(data, "<fuzz>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        return False
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True


def translate_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


class Offsets:
    """Independent char -> UTF-8 byte offset and char -> CPython line number maps."""

    def __init__(self, text: str):
        self.ascii = text.isascii()
        if not self.ascii:
            self.cum = [0]
            for ch in text:
                self.cum.append(self.cum[-1] + len(ch.encode("utf-8", "surrogatepass")))
        self.ends = [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def byte(self, c: int) -> int:
        return c if self.ascii else self.cum[c]

    def line(self, c: int) -> int:
        import bisect

        return bisect.bisect_right(self.ends, c) + 1


def check_pipeline(root: Path, files: dict[str, bytes], rewrites_per_file: int = 2) -> dict:
    res = build_corpus(CorpusSettings(name="fuzz", source="dir", path=str(root)), seed=0)
    rep = report(res)
    walked = pathological.walk_py_paths(root)
    assert rep["n_candidates"] == len(walked) == rep["walk"]["n_py_paths"]
    assert sorted([f["path"] for f in res.files] + [s["path"] for s in res.skipped]) == walked
    assert {s["reason"] for s in res.skipped} <= set(REASONS)

    # corpus vs CPython: importlib's decode_source (BOM, coding line, universal newlines)
    # gives the text; compile() of the bytes gives the syntax verdict
    for f in res.files:
        data = files.get(f["path"])
        if data is None:
            continue
        assert f["n_bytes"] == len(data)
        # (decode_source holds back a final lone \r: compare without trailing newlines)
        assert decode_source(data).rstrip("\n") == \
            translate_newlines(f["content"].removeprefix("\ufeff")).rstrip("\n"), f["path"]
        assert f["content"].startswith("\ufeff") == data.startswith(b"\xef\xbb\xbf")
        assert f["has_syntax_error"] == cpython_rejects(data), f["path"]
    for s in res.skipped:
        data = files.get(s["path"])
        if s["reason"] == "not_utf8" and data is not None:
            with pytest.raises((SyntaxError, UnicodeDecodeError)):
                decode_source(data)
        if s["reason"] == "binary" and data is not None:
            assert cpython_rejects(data), s["path"]

    # masks: offsets index the kept text, lines are CPython's
    out = {"corpus": rep}
    content = {f["file_id"]: f["content"] for f in res.files}
    parses = {f["file_id"]: not f["has_syntax_error"] for f in res.files}
    offsets = {fid: Offsets(t) for fid, t in content.items()}
    for strategy in ("regex", "ast"):
        rows, mrep = mask_corpus(res.files, strategy)
        assert mrep["n_skipped_files"] == len(mrep["skipped_files"])
        out[strategy] = mrep
        for r in rows:
            t, o = content[r["file_id"]], offsets[r["file_id"]]
            b = t.encode("utf-8")
            assert 0 <= r["sig_start_char"] < r["sig_end_char"] <= r["body_start_char"] < r["body_end_char"] <= len(t)
            if r["doc_start_char"] >= 0:
                assert r["sig_end_char"] <= r["doc_start_char"] < r["doc_end_char"] <= r["body_start_char"]
            for k in ("sig", "doc", "body"):
                for e in ("start", "end"):
                    c, by = r[f"{k}_{e}_char"], r[f"{k}_{e}_byte"]
                    assert by == (o.byte(c) if c >= 0 else -1)
            assert b[r["body_start_byte"]:r["body_end_byte"]].decode("utf-8") == t[r["body_start_char"]:r["body_end_char"]]
            assert r["start_line"] == o.line(r["body_start_char"])
            assert r["body_lines"] == r["end_line"] - r["start_line"] + 1 >= 1
        if strategy == "ast":
            ast_rows = rows
            # function regions of files CPython parses sit on the lines of its FunctionDefs
            by_file = {}
            for r in rows:
                if r["kind"] in FUNCTION_KINDS and parses[r["file_id"]]:
                    by_file.setdefault(r["file_id"], []).append(r["def_line"])
            for fid, lines in by_file.items():
                with recursion_budget():
                    tree = ast.parse(content[fid].removeprefix("\ufeff"))
                defs = {n.lineno for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
                assert set(lines) <= defs, fid

    # properties: one row per function region; failures counted with path and reason
    props, prep = corpus_properties(res.files, ast_rows)
    n_funcs = sum(1 for r in ast_rows if r["kind"] in FUNCTION_KINDS)
    assert len(props) == n_funcs == prep["n_functions"]
    assert prep["n_unparsable"] == sum(not p["parse_ok"] for p in props) == len(prep["skipped_functions"])
    assert set(prep["skipped_by_reason"]) <= FAILURE_REASONS
    assert all(s["path"] and s["detail"] for s in prep["skipped_functions"])
    out["properties"] = prep

    # the benchmark's sampling and rewrites on these regions
    import pandas as pd

    regions = pd.DataFrame(ast_rows)
    for split in ("train", "val", "test"):
        sample_heldout(regions, content, split, 20, 20, seed=0, min_lines=1, max_lines=10_000,
                       max_chars=BenchSettings.max_chars)
    seen = {}
    for r in ast_rows:
        if r["kind"] in FUNCTION_KINDS and seen.get(r["file_id"], 0) < rewrites_per_file \
                and r["body_end_char"] - r["sig_start_char"] <= BenchSettings.max_chars:
            seen[r["file_id"]] = seen.get(r["file_id"], 0) + 1
            for name, new in rewrite_all(region_source(content[r["file_id"]], r), seed=0).items():
                with recursion_budget():
                    ast.parse(new)
    return out


@pytest.fixture
def pathological_tree(tmp_path):
    root = tmp_path / "corpus"
    files = pathological.pathological_files()
    pathological.write_files(root, files)
    specials = pathological.special_entries(root)
    yield root, files, specials
    pathological.restore_permissions(root)


def test_pathological_files_never_crash_and_are_accounted(pathological_tree):
    root, files, specials = pathological_tree
    out = check_pipeline(root, files)
    reasons = out["corpus"]["skipped_by_reason"]
    # the cases are really exercised: kept, flagged, skipped and failed for the right reasons
    for r in ("binary", "not_utf8", "empty", "too_large", "duplicate", "symlink", "symlink_loop", "not_a_file",
              "excluded_test_dir"):
        assert reasons.get(r), r
    fails = out["properties"]["skipped_by_reason"]
    assert fails.get("recursion_limit") and fails.get("memory_error") and fails.get("syntax_error")
    assert out["corpus"]["n_syntax_error"] > 10 and out["corpus"]["n_files"] > 60
    assert out["ast"]["n_regions"] > 10_000  # the thousands-of-functions files


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_mutations_never_crash_and_are_accounted(tmp_path, seed):
    files = pathological.mutants(seed, 80)
    pathological.write_files(tmp_path, files)
    out = check_pipeline(tmp_path, files, rewrites_per_file=1)
    assert out["corpus"]["n_candidates"] == len(files)


def test_tokenizer_training_text_caps_giant_runs_only():
    """A 600K-character string literal of one letter took BPE training over 10 minutes;
    runs of one pre-token class are cut to MAX_TRAIN_RUN for training, nothing else."""
    from swejepa.teachers.tokenizer import MAX_TRAIN_RUN, cap_runs, train_bpe_tokenizer

    normal = pathological.BASE * 50
    assert cap_runs(normal) is normal
    for run in ("x" * 600_000, "7" * 5000, "\n" * 100_000, "_" * 3000, "+-" * 2000, " \t" * 2000):
        src = "def f():\n    return '" + run + "'\n"
        capped = cap_runs(src)
        assert len(capped) <= len(src) and capped.startswith("def f():\n    return '")
        assert max(len(m.group()) for m in re.finditer(r"[^\W\d_]+|\d+|\s+|(?:[^\s\w]|_)+", capped)) <= MAX_TRAIN_RUN
    tok = train_bpe_tokenizer(["S = '" + "x" * 600_000 + "'\n", normal], vocab_size=600, min_frequency=2)
    assert len(tok) >= 300  # trained (in seconds, not the better part of an hour)
