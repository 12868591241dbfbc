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
    raws = list(iter_stdlib(test_dirs="skip"))
    kept = [rf.path for rf in raws if rf.skip is None]
    assert kept and not any(p.startswith("test/") or "/tests/" in p for p in kept)
    assert not any("site-packages" in rf.path for rf in raws)
    # excluded test files are listed, not dropped
    assert {rf.skip[0] for rf in raws if rf.path.startswith("test/")} == {"excluded_test_dir"}


# ----------------------------------------------------------------------------- issue 15

import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from swejepa.corpus import REASONS, SOURCE_REASONS, decode_source, report, stdlib_root  # noqa: E402
from swejepa.settings import CorpusSettings  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import pathological  # noqa: E402


@pytest.fixture
def every_reason_dir(tmp_path, monkeypatch):
    """A directory with at least one candidate for every skip reason, and kept files."""
    root = tmp_path / "tree"
    root.mkdir()
    expected = pathological.special_entries(root)
    files = {
        "pkg/good.py": b"def good(x):\n    return x\n",
        "pkg/binary.py": b"x = 1\n\x00\x01",
        "pkg/latin1_no_cookie.py": b"s = 'caf\xe9'\n",
        "pkg/empty.py": b"",
        "pkg/blank.py": b"  \n\t\n",
        "pkg/syntax_error.py": b"def broken(:\n    pass\n",
    }
    pathological.write_files(root, files)
    expected.update({"pkg/good.py": None, "pkg/binary.py": "binary", "pkg/latin1_no_cookie.py": "not_utf8",
                     "pkg/empty.py": "empty", "pkg/blank.py": "empty", "pkg/syntax_error.py": None})
    # chmod 000 does not stop root: refuse to open that one path, as the kernel would
    locked = pathological.unreadable_path(root)
    real_open = os.open

    def guarded_open(path, flags, *a, **k):
        if os.fsdecode(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", guarded_open)
    yield root, expected
    pathological.restore_permissions(root)


def test_every_path_is_kept_or_skipped_with_a_reason(every_reason_dir, tmp_path):
    root, expected = every_reason_dir
    cfg = CorpusSettings(name="t", source="dir", path=str(root))
    res = build_corpus(cfg, seed=0)
    out = tmp_path / "out"
    write_corpus(res, cfg, 0, out / "files.jsonl", out / "manifest.json", out / "skipped.csv", out / "report.json")
    rep = json.loads((out / "report.json").read_text())
    with open(out / "skipped.csv", encoding="utf-8", newline="") as fh:
        skipped = list(csv.DictReader(fh))
    kept = [json.loads(line)["path"] for line in (out / "files.jsonl").read_text(encoding="utf-8").splitlines()]

    # reconciliation with an independent walk of the root
    walked = pathological.walk_py_paths(root)
    assert rep["n_files"] + rep["n_skipped"] == len(walked) == rep["walk"]["n_py_paths"] == rep["n_candidates"]
    assert sorted(kept + [r["path"] for r in skipped]) == walked
    assert rep["n_files"] == len(kept) and rep["n_skipped"] == len(skipped)
    assert sum(rep["skipped_by_reason"].values()) == len(skipped)

    # every reason of the issue occurs, with the expected path
    reasons = {r["path"]: r["reason"] for r in skipped}
    for path, reason in expected.items():
        assert (reasons.get(path) if reason else (path in kept and path not in reasons)) == (reason or True), path
    # every reason a dir walk can give (max_files, near_duplicate: settings; the others: site-packages)
    assert set(rep["skipped_by_reason"]) == set(REASONS) - {"max_files", "near_duplicate"} - set(SOURCE_REASONS)
    assert all(r["detail"] for r in skipped)
    assert "dirlink" in " ".join(rep["walk"]["dir_symlinks"])  # a directory symlink is named, not followed


def test_max_files_cap_is_accounted(every_reason_dir):
    root, _ = every_reason_dir
    res = build_corpus(CorpusSettings(source="dir", path=str(root), max_files=2), seed=0)
    rep = report(res)
    assert rep["n_files"] == 2 and rep["skipped_by_reason"]["max_files"] > 0
    assert rep["n_candidates"] == len(pathological.walk_py_paths(root))


def test_test_dirs_keep_keeps_them(tmp_path):
    pathological.write_files(tmp_path, {"a/tests/test_x.py": b"def test_x():\n    pass\n",
                                        "a/mod.py": b"def f():\n    pass\n"})
    skip = build_corpus(CorpusSettings(source="dir", path=str(tmp_path)), 0)
    keep = build_corpus(CorpusSettings(source="dir", path=str(tmp_path), test_dirs="keep"), 0)
    assert [s["reason"] for s in skip.skipped] == ["excluded_test_dir"] and len(skip.files) == 1
    assert not keep.skipped and len(keep.files) == 2


def test_stdlib_accounting_reconciles_with_a_walk():
    res = build_corpus(CorpusSettings(), seed=0)
    rep = report(res)
    root = stdlib_root()
    walked = [p for p in pathological.walk_py_paths(root)
              if not any(part in ("site-packages", "dist-packages") for part in p.split("/")[:-1])]
    assert rep["n_files"] + rep["n_skipped"] == len(walked) == rep["walk"]["n_py_paths"]
    assert rep["skipped_by_reason"]["excluded_test_dir"] > 0
    assert "site-packages" in rep["walk"]["pruned_dirs"] or not (root / "site-packages").exists()


def test_bom_and_crlf_file_is_valid_and_exact(tmp_path):
    data = b"\xef\xbb\xbfdef f(a):\r\n    b = a + 1\r\n    return b\r\n"
    (tmp_path / "bom.py").write_bytes(data)
    res = build_corpus(CorpusSettings(source="dir", path=str(tmp_path)), 0)
    (f,) = res.files
    assert f["has_syntax_error"] is False
    assert f["content"] == data.decode("utf-8") and f["content"].startswith("\ufeff")
    assert f["n_bytes"] == len(data)
    for strategy in ("ast", "regex"):
        rows, rep = mask_corpus(res.files, strategy)
        (r,) = rows
        c, b = f["content"], f["content"].encode("utf-8")
        assert c[r["body_start_char"]:r["body_end_char"]] == "b = a + 1\r\n    return b"
        assert c[r["sig_start_char"]:r["sig_end_char"]] == "def f(a):"
        assert b[r["body_start_byte"]:r["body_end_byte"]] == c[r["body_start_char"]:r["body_end_char"]].encode()
        assert b == data and r["sig_start_byte"] == 3 and r["def_line"] == 1 and r["start_line"] == 2
    props, prep = corpus_properties(res.files, mask_corpus(res.files, "ast")[0])
    assert prep["n_unparsable"] == 0 and props[0]["parse_ok"] and props[0]["loc"] == 3


@pytest.mark.parametrize("data,text,reason", [
    (b"# -*- coding: latin-1 -*-\ns = 'caf\xe9'\n", "# -*- coding: latin-1 -*-\ns = 'café'\n", None),
    (b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\ns = '\x80'\n",
     "#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\ns = '€'\n", None),
    (b"\xef\xbb\xbf# coding: utf-8\nx = 1\n", "\ufeff# coding: utf-8\nx = 1\n", None),
    (b"\xef\xbb\xbf# coding: latin-1\nx = 1\n", None, "not_utf8"),     # CPython: encoding problem
    (b"# coding: klingon\nx = 1\n", None, "not_utf8"),
    (b"s = 'caf\xe9'\n", None, "not_utf8"),                             # no coding line: UTF-8
    (b"x = 1\n# \xc3\x28\n", None, "not_utf8"),                          # invalid continuation byte
    (b"x = '\xed\xa0\x80'\n", None, "not_utf8"),                         # encoded surrogate
    ("# coding: utf-16\nx = 1\n".encode("utf-16"), None, "binary"),
])
def test_decoding_follows_cpython(tmp_path, data, text, reason):
    (tmp_path / "m.py").write_bytes(data)
    res = build_corpus(CorpusSettings(source="dir", path=str(tmp_path)), 0)
    if reason is None:
        assert [f["content"] for f in res.files] == [text]
        assert res.files[0]["has_syntax_error"] is False
        compile(data, "m.py", "exec", dont_inherit=True)  # CPython agrees it is valid source
    else:
        assert [s["reason"] for s in res.skipped] == [reason]


def test_decode_source_of_already_decoded_text_ignores_coding_lines():
    text = "# coding: latin-1\ns = 'é'\n"
    assert decode_source(text.encode("utf-8"), is_text=True) == (text, "")


def test_jsonl_records_are_accounted(tmp_path):
    src = tmp_path / "c.jsonl"
    recs = [{"path": "a/tests/test_x.py", "content": "def t():\n    pass\n"},
            {"path": "a/surrogate.py", "content": "x = '\ud800'\n"},
            {"path": "a/ok.py", "content": "\ufeffdef f():\r\n    return 1\r\n"},
            {"path": "a/not_text.py", "content": 5}]
    src.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    res = build_corpus(CorpusSettings(source="jsonl", path=str(src)), seed=0)
    assert {s["path"]: s["reason"] for s in res.skipped} == {
        "a/tests/test_x.py": "excluded_test_dir", "a/surrogate.py": "not_utf8", "a/not_text.py": "not_utf8"}
    assert [f["content"] for f in res.files] == [recs[2]["content"]] and not res.files[0]["has_syntax_error"]


def test_test_dirs_setting_replaces_include_tests():
    import yaml

    from swejepa.settings import ConfigError, Settings

    root = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((root / "config.yaml").read_text())
    assert CorpusSettings().test_dirs == "skip"
    assert Settings.from_config(cfg).corpus.test_dirs == "skip"
    for bad, key in (({"include_tests": True}, "corpus.include_tests"), ({"test_dirs": "maybe"}, "corpus.test_dirs")):
        c = yaml.safe_load((root / "config.yaml").read_text())
        c.setdefault("corpus", {}).update(bad)
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            Settings.from_config(c)
