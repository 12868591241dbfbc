"""Corpus building: bad input is skipped and reported, never a crash; splits by package."""
import csv
import json

import pytest

from swejepa.corpus import CorpusError, build_corpus, iter_stdlib, write_corpus
from swejepa.masks import mask_corpus
from swejepa.properties import corpus_properties


@pytest.fixture
def bad_dir(tmp_path):
    d = tmp_path / "src"
    (d / "pkg_a").mkdir(parents=True)
    (d / "pkg_b").mkdir()
    (d / "pkg_a" / "good.py").write_text("def f(x):\n    y = x + 1\n    return y\n")
    (d / "pkg_a" / "dup.py").write_text("def f(x):\n    y = x + 1\n    return y\n")
    (d / "pkg_a" / "syntax.py").write_text("def ok():\n    return 1\n\ndef broken(:\n    pass\n")
    (d / "pkg_b" / "latin1.py").write_bytes("s = 'caf\xe9'\n".encode("latin-1"))
    (d / "pkg_b" / "binary.py").write_bytes(b"\x00\x01\x02ELF")
    (d / "pkg_b" / "empty.py").write_bytes(b"")
    (d / "pkg_b" / "huge.py").write_bytes(b"x = 1\n" * (5 * 1024 * 1024 // 6 + 1))
    (d / "pkg_b" / "nofuncs.py").write_text("X = 1\nY = [X, 2]\n")
    (d / "notes.txt").write_text("not python")
    return d


def test_bad_input_is_reported_not_fatal(bad_dir, tmp_path):
    cfg = {"name": "bad", "source": "dir", "path": str(bad_dir), "max_file_bytes": 1_000_000}
    res = build_corpus(cfg, seed=0)
    kept = {f["path"] for f in res.files}
    reasons = {s["path"]: s["reason"] for s in res.skipped}
    assert reasons == {
        "pkg_a/good.py": "duplicate",  # sorted order: dup.py is seen first
        "pkg_b/binary.py": "binary",
        "pkg_b/empty.py": "empty",
        "pkg_b/huge.py": "too_large",
        "pkg_b/latin1.py": "not_utf8",
    }
    assert kept == {"pkg_a/dup.py", "pkg_a/syntax.py", "pkg_b/nofuncs.py"}
    syntax = next(f for f in res.files if f["path"] == "pkg_a/syntax.py")
    assert syntax["has_syntax_error"]
    # the whole downstream path runs on it: regions only from error-free subtrees
    rows, rep = mask_corpus(res.files, "ast")
    assert {r["name"] for r in rows} == {"f", "ok"}
    props, prep = corpus_properties(res.files, rows)
    assert len(props) == 2 and prep["n_unparsable"] == 0
    out = tmp_path / "out"
    write_corpus(res, cfg, 0, out / "files.jsonl", out / "manifest.json", out / "skipped.csv", out / "report.json")
    with open(out / "skipped.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 5
    report = json.loads((out / "report.json").read_text())
    assert report["skipped_by_reason"]["not_utf8"] == 1 and report["n_syntax_error"] == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["manifest_sha256"]) == 64
    assert all(len(e["sha256"]) == 64 for e in manifest["files"])
    assert manifest["interpreter"]["version"]
    # no temporary files left behind
    assert sorted(p.name for p in out.iterdir()) == ["files.jsonl", "manifest.json", "report.json", "skipped.csv"]


def test_jsonl_source_roundtrips_exact_text(tmp_path):
    src = tmp_path / "c.jsonl"
    recs = [{"path": "a/x.py", "content": "def f():\r\n    return 'é'\r\n"},
            {"path": "b/y.py", "content": "def g():\n    pass\n"}]
    src.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    res = build_corpus({"name": "j", "source": "jsonl", "path": str(src)}, seed=0)
    assert [f["content"] for f in res.files] == [r["content"] for r in recs]


def test_bad_jsonl_and_missing_sources_fail_clearly(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"path": "x.py"}\n')
    with pytest.raises(CorpusError, match="'path' and 'content'"):
        build_corpus({"name": "j", "source": "jsonl", "path": str(bad)})
    with pytest.raises(CorpusError, match="corpus.path"):
        build_corpus({"name": "d", "source": "dir", "path": str(tmp_path / "nope")})
    with pytest.raises(CorpusError, match="corpus.path"):
        build_corpus({"name": "h", "source": "hf", "path": "bigcode/the-stack-smol"})


def test_splits_are_by_package_and_deterministic():
    cfg = {"name": "s", "source": "stdlib", "max_files": 250, "val_fraction": 0.1, "test_fraction": 0.1}
    a = build_corpus(cfg, seed=0)
    b = build_corpus(cfg, seed=0)
    c = build_corpus(cfg, seed=1)
    split_of = {}
    for f in a.files:
        assert split_of.setdefault(f["package"], f["split"]) == f["split"]  # one split per package
    assert [f["split"] for f in a.files] == [f["split"] for f in b.files]
    assert [f["split"] for f in a.files] != [f["split"] for f in c.files]
    counts = {s: sum(f["split"] == s for f in a.files) for s in ("train", "val", "test")}
    assert counts["val"] > 0 and counts["test"] > 0 and counts["train"] > counts["val"] + counts["test"]


def test_stdlib_excludes_tests_and_site_packages():
    paths = [rf.path for rf in iter_stdlib(include_tests=False)]
    assert paths and not any(p.startswith("test/") or "/tests/" in p for p in paths)
    assert not any("site-packages" in p for p in paths)
