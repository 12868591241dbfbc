"""Span exactness of both mask strategies on crafted files."""
import pytest

from swejepa.masks import agreement, mask_file

SRC = '''import os


@decorator
@other(arg=1)
async def fetch(url: str,
                timeout: float = 1.0) -> bytes:
    """Fetch a URL.

    Long docstring with def fake(): inside.
    """
    data = await get(url)
    return data


class Shape:
    """A shape."""

    def area(self): return 0

    def scale(self, k):
        # a comment first
        self.k = k
        def inner(x):
            return x * k
        return inner


def handlers():
    try:
        risky()
    except (ValueError, KeyError) as exc:
        log(exc)
        raise
    finally:
        cleanup()


def only_doc():
    """Nothing else."""


def päivä(ä):
    return ä + 1
'''


def regions(src, strategy):
    rows, _ = mask_file(src, strategy)
    return {(r["kind"], r["qualname"]): r for r in rows}


@pytest.mark.parametrize("strategy", ["ast", "regex"])
def test_function_bodies_are_exact(strategy):
    r = regions(SRC, strategy)
    body = lambda k: SRC[r[k]["body_start_char"]:r[k]["body_end_char"]]  # noqa: E731
    assert body(("function", "fetch")) == "data = await get(url)\n    return data"
    assert body(("method", "Shape.area")) == "return 0"
    assert body(("method", "Shape.scale")) == ("self.k = k\n        def inner(x):\n            return x * k\n"
                                                "        return inner")
    assert body(("function", "Shape.scale.inner")) == "return x * k"
    assert body(("function", "päivä")) == "return ä + 1"
    # docstring-only functions have no body to mask
    assert ("function", "only_doc") not in r
    # signature includes decorators and ends at the colon; docstring span is separate
    f = r[("function", "fetch")]
    assert SRC[f["sig_start_char"]:f["sig_end_char"]].startswith("@decorator\n@other(arg=1)\nasync def fetch(")
    assert SRC[f["sig_start_char"]:f["sig_end_char"]].endswith("-> bytes:")
    assert SRC[f["doc_start_char"]:f["doc_end_char"]].startswith('"""Fetch a URL.')
    assert SRC[f["doc_start_char"]:f["doc_end_char"]].endswith('"""')
    assert f["class_name"] == ""
    assert r[("method", "Shape.area")]["class_name"] == "Shape"
    # 'def fake()' inside the docstring is not a function
    assert not any(q == "fake" or q.endswith(".fake") for _, q in r)


def test_ast_handlers_and_bytes():
    r = regions(SRC, "ast")
    exc = next(v for (k, q), v in r.items() if k == "except")
    fin = next(v for (k, q), v in r.items() if k == "finally")
    assert SRC[exc["body_start_char"]:exc["body_end_char"]] == "log(exc)\n        raise"
    assert SRC[exc["sig_start_char"]:exc["sig_end_char"]] == "except (ValueError, KeyError) as exc:"
    assert SRC[fin["body_start_char"]:fin["body_end_char"]] == "cleanup()"
    assert exc["name"] == "handlers"
    # byte spans slice the same text from the UTF-8 encoding
    data = SRC.encode()
    for row in r.values():
        assert data[row["body_start_byte"]:row["body_end_byte"]].decode() == \
            SRC[row["body_start_char"]:row["body_end_char"]]


@pytest.mark.parametrize("strategy", ["ast", "regex"])
def test_tabs_and_crlf(strategy):
    src = "def f(a):\r\n\tif a:\r\n\t\treturn 1\r\n\treturn 2\r\n\r\ndef g():\r\n\tpass\r\n"
    r = regions(src, strategy)
    f = r[("function", "f")]
    assert src[f["body_start_char"]:f["body_end_char"]] == "if a:\r\n\t\treturn 1\r\n\treturn 2"
    assert (f["start_line"], f["end_line"], f["body_lines"]) == (2, 4, 3)
    assert src[r[("function", "g")]["body_start_char"]:r[("function", "g")]["body_end_char"]] == "pass"


def test_error_subtrees_are_dropped_but_intact_functions_kept():
    src = "def good():\n    return 1\n\ndef bad(:\n    return (\n\ndef also_good(x):\n    return x\n"
    rows, dropped = mask_file(src, "ast")
    names = {r["name"] for r in rows}
    assert "good" in names
    assert "bad" not in names
    assert all(not r["has_error"] for r in rows)


def test_agreement_on_crafted_file():
    rx, _ = mask_file(SRC, "regex")
    at, _ = mask_file(SRC, "ast")
    statuses = {a["qualname"]: a["status"] for a in agreement(rx, at)}
    assert statuses["fetch"] == "agree"
    assert statuses["Shape.scale.inner"] == "agree"
    assert set(statuses.values()) == {"agree"}


def test_min_body_lines_filters():
    rows, dropped = mask_file(SRC, "ast", min_body_lines=2)
    assert all(r["body_lines"] >= 2 for r in rows)
    assert dropped["short_body"] > 0


# ----------------------------------------------------------------------------- issue 15

@pytest.mark.parametrize("strategy", ["ast", "regex"])
@pytest.mark.parametrize("nl", ["\n", "\r\n", "\r"])
def test_bom_and_every_line_ending_give_the_same_regions(strategy, nl):
    """A byte-order mark is not code, and a lone \\r ends a line (as for CPython): the
    regions are those of the plain file, offsets shifted by the BOM, lines unchanged."""
    plain = SRC.replace("\n", nl)
    base = mask_file(plain, strategy)[0]
    for text in (plain, "\ufeff" + plain):
        rows = mask_file(text, strategy)[0]
        shift = len(text) - len(plain)
        assert [(r["kind"], r["qualname"], r["def_line"], r["start_line"], r["end_line"]) for r in rows] == \
               [(r["kind"], r["qualname"], r["def_line"], r["start_line"], r["end_line"]) for r in base]
        data = text.encode("utf-8")
        for r, b in zip(rows, base):
            assert text[r["body_start_char"]:r["body_end_char"]] == plain[b["body_start_char"]:b["body_end_char"]]
            assert r["body_start_char"] == b["body_start_char"] + shift
            for k in ("sig", "body"):
                s, e = r[f"{k}_start_char"], r[f"{k}_end_char"]
                assert data[r[f"{k}_start_byte"]:r[f"{k}_end_byte"]] == text[s:e].encode("utf-8")
    assert {r["qualname"] for r in base} >= {"fetch", "Shape.scale", "Shape.scale.inner", "päivä"}


def test_form_feed_and_unicode_separators_do_not_shift_lines():
    """def_line/start_line count lines as CPython does (\\n, \\r\\n, \\r only): form feeds
    and U+2028 are not line ends (str.splitlines would say they are)."""
    import ast

    src = "\x0cimport os\n\x0c\ndef f(x):\n    s = '\u2028\x85\x1c'\n    return s\n\n\ndef g():\n    return 1\n"
    fn_lines = sorted(n.lineno for n in ast.walk(ast.parse(src)) if isinstance(n, ast.FunctionDef))
    for strategy in ("ast", "regex"):
        rows = mask_file(src, strategy)[0]
        assert [r["def_line"] for r in rows] == fn_lines == [3, 8]


def test_mask_corpus_counts_a_file_it_cannot_process():
    from swejepa.masks import mask_corpus

    files = [{"file_id": 0, "path": "ok.py", "split": "train", "package": "ok", "content": "def f():\n    return 1\n"},
             {"file_id": 1, "path": "bad.py", "split": "train", "package": "bad", "content": "x = '\ud800'\n"}]
    for strategy in ("ast", "regex"):
        rows, rep = mask_corpus(files, strategy)
        assert [r["file_id"] for r in rows] == [0]
        assert rep["n_skipped_files"] == 1 and rep["skipped_files"][0]["path"] == "bad.py"
        assert rep["skipped_files"][0]["reason"] == "value_error"
