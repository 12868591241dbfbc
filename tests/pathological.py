"""Generators of pathological Python files and directory entries, shared by the fuzz test
(tests/test_fuzz_corpus.py) and the pathological-corpus workflow test
(tests/test_pathological_workflow.py). Deterministic: a seed gives the same bytes.

``pathological_files()`` — ``{relative path: bytes}``, one file per case (named after
it); ``mutants(seed, n)`` — random byte-level mutations of real code; ``special_entries``
— the directory entries a walk must account for (symlinks, a symlink loop, a directory
and a FIFO named ``*.py``, an unreadable file, a test directory, a duplicate).
"""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

BASE = '''import os
from collections import deque


class Queue:
    """A small queue."""

    def __init__(self, items=()):
        self.items = deque(items)

    def push(self, x):
        if x is None:
            raise ValueError("no None")
        self.items.append(x)
        return len(self.items)

    def pop(self):
        try:
            return self.items.popleft()
        except IndexError:
            return None
        finally:
            pass


def total(xs, start=0):
    acc = start
    for x in xs:
        if x > 0:
            acc += x
        elif x < -10:
            acc -= 1
    while acc > 1000:
        acc //= 2
    return acc


async def fetch(url, *, timeout=10):
    async with open(url) as fh:
        async for line in fh:
            yield line
'''


def _nested_if(depth: int, indent: str = " ") -> str:
    lines = ["def deep(x):"]
    for i in range(depth):
        lines.append(indent * (i + 1) + f"if x > {i}:")
    lines.append(indent * (depth + 1) + "return x")
    lines.append(indent + "return 0")
    return "\n".join(lines) + "\n"


def _nested_defs(depth: int) -> str:
    out = []
    for i in range(depth):
        out.append(" " * i + f"def f{i}(a{i}=lambda q=({i}): q):")
        out.append(" " * (i + 1) + f"v{i} = a{i}() + {i}")
    out.append(" " * depth + "return 1")
    return "\n".join(out) + "\n"


def _nested_classes(depth: int) -> str:
    out = []
    for i in range(depth):
        out.append(" " * i + f"class C{i}:")
        out.append(" " * (i + 1) + f"def m{i}(self):\n" + " " * (i + 2) + f"return {i}")
    out.append(" " * depth + "pass")
    return "\n".join(out) + "\n"


def _in_func(expr: str) -> str:
    return f"def f(a, b, c, x):\n    y = {expr}\n    return y\n"


def pathological_files(scale: float = 1.0) -> dict[str, bytes]:
    """One file per case; the name says what it is. ``scale`` shrinks the cases that are
    merely big (giant strings and lines, thousands of functions, long flat chains) for
    runs where every token costs (the workflow test); the cases that hit CPython's limits
    (nesting depth, recursion, parser memory) keep the sizes that hit them."""
    u = lambda s: s.encode("utf-8")  # noqa: E731

    def n(count: int, least: int = 10) -> int:
        return max(int(count * scale), least)
    f: dict[str, str | bytes] = {}
    # --- nesting and size
    f["deep_parens_150.py"] = _in_func("(" * 150 + "x" + ")" * 150)
    f["deep_parens_250.py"] = _in_func("(" * 250 + "x" + ")" * 250)       # CPython: too many nested parentheses
    f["deep_parens_20000.py"] = _in_func("(" * max(n(20000), 1000) + "x" + ")" * max(n(20000), 1000))
    f["deep_brackets_mixed.py"] = _in_func("[{(" * 60 + "x" + ")}]" * 60)
    f["deep_lists_data_table.py"] = "TABLE = " + "[" * 180 + "1" + "]" * 180 + "\n" + BASE
    f["long_sum_100k.py"] = _in_func("+".join(["x"] * max(n(100_000), 5000)))          # RecursionError in ast construction
    f["long_sum_800.py"] = _in_func("+".join(["x"] * 800))               # parses; deep for recursive walkers
    f["long_boolop.py"] = _in_func(" and ".join(["x"] * n(50_000)))
    f["long_compare.py"] = _in_func(" < ".join(["x"] * n(20_000)))
    f["long_ifexp.py"] = _in_func(" if c else ".join(["a"] * 3000))
    f["deep_unary.py"] = _in_func("-" * 50_000 + "x")                     # MemoryError in the parser
    f["deep_not.py"] = _in_func("not " * 20_000 + "x")
    f["deep_attr.py"] = _in_func("x" + ".a" * max(n(50_000), 5000))
    f["deep_call_chain.py"] = _in_func("x" + "()" * max(n(30_000), 5000))
    f["deep_subscript.py"] = _in_func("x" + "[0]" * max(n(30_000), 5000))
    f["deep_lambda.py"] = _in_func("lambda: " * 300 + "1")
    f["deep_fstring.py"] = _in_func("f'{" + "f'{" * 3 + "x" + "}'" * 3 + "}'")
    f["nested_if_99.py"] = _nested_if(98)                                 # just within CPython's 100 levels
    f["nested_if_150.py"] = _nested_if(150)                               # too many levels of indentation
    f["nested_if_tabs_500.py"] = _nested_if(max(n(500), 150), "\t")
    f["elif_chain_10k.py"] = "def f(x):\n    if x == 0:\n        return 0\n" + "".join(
        f"    elif x == {i}:\n        return {i}\n" for i in range(1, max(n(10_000), 3000)))   # MemoryError/RecursionError in the parser
    f["if_chain_flat_10k.py"] = "def f(x):\n" + "".join(f"    if x == {i}:\n        return {i}\n"
                                                        for i in range(n(10_000)))
    f["nested_defs_90.py"] = _nested_defs(90)
    f["nested_classes_50.py"] = _nested_classes(50)
    f["giant_string.py"] = 'S = "' + "x" * n(600_000) + '"\n\ndef f():\n    return S\n'
    f["giant_triple_string.py"] = 'def f():\n    """' + "doc line\n" * n(50_000) + '"""\n    return 1\n'
    f["huge_line_100k_tokens.py"] = "def f():\n    return [" + ",".join(str(i % 10) for i in range(n(100_000))) + "]\n"
    f["huge_dict_literal.py"] = "D = {" + ", ".join(f"{i}: '{i}'" for i in range(n(20_000))) + "}\n"
    f["thousands_of_functions.py"] = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(n(4000)))
    f["thousands_of_one_liners.py"] = "".join(f"def g{i}(): return {i}\n" for i in range(n(4000)))
    f["thousands_of_methods.py"] = "class K:\n" + "".join(f"    def m{i}(self):\n        return {i}\n"
                                                         for i in range(n(3000)))
    f["generated_parser.py"] = ("_table = {\n" + "".join(f"    ({i}, {i % 7}): [{', '.join(map(str, range(i % 13)))}],\n"
                                                         for i in range(n(3000))) + "}\n\n"
                                + "def parse(tokens):\n    state = 0\n    for t in tokens:\n"
                                + "        state = _table.get((state, t), [0])[0]\n    return state\n")
    # --- encodings, BOM, line endings, odd characters
    f["bom_crlf.py"] = b"\xef\xbb\xbf" + u("def f(a):\r\n    b = a + 1\r\n    return b\r\n")
    f["bom_lf_decorated.py"] = b"\xef\xbb\xbf" + u("@staticmethod\ndef f(a):\n    return a\n")
    f["bom_cr_only.py"] = b"\xef\xbb\xbf" + u("def f(a):\r    return a\r")
    f["bom_only.py"] = b"\xef\xbb\xbf"
    f["bom_latin1_cookie.py"] = b"\xef\xbb\xbf# -*- coding: latin-1 -*-\nx = 1\n"   # CPython: encoding problem
    f["cr_only.py"] = u(BASE.replace("\n", "\r"))
    f["crlf.py"] = u(BASE.replace("\n", "\r\n"))
    f["mixed_line_endings.py"] = u("def a():\n    return 1\r\ndef b():\r    return 2\r\n\ndef c():\n    return 3\n")
    f["form_feeds.py"] = u("\x0cimport os\n\x0c\ndef f(x):\n    \x0cy = x\n    return y\n\x0c\nclass A:\n    def m(self):\n        return 1\n")
    f["lone_form_feed.py"] = u("\x0c")
    f["line_separators_in_strings.py"] = u("def f():\n    s = '\u2028\u2029\x85\x1c\x1d\x1e'\n    # \u2028 comment \x85\n    return s\n\n\ndef g():\n    return 2\n")
    f["vertical_tab.py"] = u("def f():\n    x = 1\x0b\n    return x\n")
    f["tabs_mixed_spaces.py"] = u("def f(x):\n\tif x:\n        return 1\n\treturn 2\n")
    f["tabs_only.py"] = u("def f(x):\n\tif x:\n\t\treturn 1\n\treturn 2\n")
    f["latin1_cookie.py"] = b"# -*- coding: latin-1 -*-\ndef f():\n    return 'caf\xe9'\n"
    f["cp1252_vim_cookie.py"] = b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\ndef f():\n    return '\x80'\n"
    f["unknown_cookie.py"] = b"# coding: klingon\nx = 1\n"
    f["latin1_no_cookie.py"] = b"def f():\n    return 'caf\xe9'\n"
    f["invalid_continuation.py"] = b"def f():\n    return 1\n\n\n# \xc3\x28 \xa0\xa1\ndef g():\n    return 2\n"
    f["overlong_utf8.py"] = b"x = '\xc0\xaf'\n"
    f["encoded_surrogate.py"] = b"x = '\xed\xa0\x80'\n"
    f["utf16.py"] = "def f():\n    return 1\n".encode("utf-16")
    f["nul_mid_file.py"] = u("def f():\n    return 1\n") + b"\x00" + u("def g():\n    return 2\n")
    f["nul_only.py"] = b"\x00" * 10
    f["unicode_identifiers.py"] = u("def größe(λ, ünïcode=1):\n    π = 3.14\n    名前 = λ * π\n    return 名前\n\n"
                                    "class Ωmega:\n    def ƒ(self):\n        return 'emoji 🎉'\n")
    f["zero_width_and_bidi.py"] = u("def f():\n    s = 'a\u200bb\u202ec\u2066'\n    return s\n")
    f["combining_chars.py"] = u("def cafe\u0301():\n    return 'e\u0301'\n")
    # --- syntax, old and new
    f["python2.py"] = u("print 'hello'\nexec 'x = 1'\ndef f(a, (b, c)):\n    print >>sys.stderr, a\n    return 0777\n\n"
                        "def ok():\n    return 1\n")
    f["python2_except.py"] = u("def f():\n    try:\n        pass\n    except Exception, e:\n        raise ValueError, 'x'\n")
    f["async_match.py"] = u("async def main(q):\n    async with q as c:\n        async for x in c:\n            match x:\n"
                            "                case {'k': [1, *rest]} if rest:\n                    await c.send(rest)\n"
                            "                case Point(x=0) | None:\n                    pass\n                case _:\n"
                            "                    return [y async for y in c]\n\n"
                            "def match(case):\n    match = case\n    return match\n")
    f["decorators_everywhere.py"] = u("@a\n@b.c(d=lambda: 1)\n@(lambda f: f)\nclass A:\n    @property\n    @functools.cache\n"
                                      "    def p(self):\n        return 1\n\n    @staticmethod\n    @x[0]\n    def s(y=lambda z=(lambda: 2): z()):\n"
                                      "        return y()\n")
    f["lambdas_in_defaults.py"] = u("def f(a=lambda: (lambda: (lambda: 1))(), *, b=[lambda x: x for _ in range(3)],\n"
                                    "      c={k: (lambda v=k: v) for k in 'ab'}):\n    return a, b, c\n")
    f["fstring_nesting.py"] = u("def f(x, w=10, p=3):\n    return f\"{x!r:>{w}} {f'{x:.{p}f}'} {'{'}\" + f'''{f\"{x}\"}'''\n")
    f["walrus_and_star.py"] = u("def f(xs):\n    if (n := len(xs)) > 1:\n        a, *b = xs\n        return [y for x in xs if (y := x)]\n    return n\n")
    f["type_params_312.py"] = u("type Alias[T] = list[T]\n\ndef f[T](x: T) -> T:\n    return x\n")
    f["continuation_lines.py"] = u("def f(a,\\\n      b):\n    x = a + \\\n        b\n    return x\n")
    f["unterminated_string.py"] = u("def f():\n    return 'abc\n\ndef g():\n    return 1\n")
    f["unterminated_triple.py"] = u('def f():\n    """never closed\n    return 1\n')
    f["unclosed_bracket.py"] = u("def f():\n    return (1,\n\ndef g():\n    return 2\n")
    f["syntax_error_middle.py"] = u("def a():\n    return 1\n\ndef b(:\n    pass\n\ndef c():\n    return 3\n")
    f["bad_indent.py"] = u("def f():\n  x = 1\n    y = 2\n  return x\n")
    f["no_trailing_newline.py"] = u("def f():\n    return 1")
    f["only_comments.py"] = u("# just\n# comments\n")
    f["only_docstring.py"] = u('"""Module docstring only."""\n')
    f["ellipsis_bodies.py"] = u("def f(): ...\n\nclass P:\n    def m(self): ...\n    def n(self):\n        ...\n")
    f["long_identifier.py"] = u("def " + "a" * n(50_000) + "():\n    return 1\n")
    f["many_blank_lines.py"] = u("\n" * n(100_000) + "def f():\n    return 1\n")
    f["whitespace_only.py"] = u("   \n\t\n  ")
    f["empty.py"] = b""
    f["binary_elf.py"] = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256))
    f["pkg_a/__init__.py"] = u("")  # empty: skipped
    f["pkg_a/dup_one.py"] = u(BASE)
    f["pkg_a/dup_two.py"] = u(BASE)  # duplicate of dup_one
    return {k: (v if isinstance(v, bytes) else u(v)) for k, v in f.items()}


def mutants(seed: int, n: int) -> dict[str, bytes]:
    """Random byte-level mutations of ``BASE`` (insert, delete, replace, duplicate a
    span, swap brackets/indentation, inject odd bytes)."""
    rng = random.Random(seed)
    src = BASE.encode("utf-8")
    odd = [b"\x00", b"\xff", b"\xc3", b"\r", b"\x0c", b"\t", b"(", b")", b"[", b"]", b"{", b"'", b'"', b'"""',
           b"\\", b":", b"\n    ", "\ufeff".encode("utf-8"),
           b"lambda:", b"async ", b"match x:\n case 1:\n  pass\n", "\u2028".encode("utf-8"), b"#", b" " * 40]
    out = {}
    for i in range(n):
        b = bytearray(src)
        for _ in range(rng.randint(1, 12)):
            op = rng.random()
            pos = rng.randrange(len(b) + 1)
            if op < 0.3:
                b[pos:pos] = rng.choice(odd)
            elif op < 0.5 and len(b) > 1:
                del b[pos:pos + rng.randint(1, 20)]
            elif op < 0.7 and pos < len(b):
                b[pos] = rng.randrange(256)
            elif op < 0.85:
                j = rng.randrange(len(b) + 1)
                a, z = sorted((pos, j))
                b[pos:pos] = b[a:z][:2000]
            else:
                b = bytearray(bytes(b).replace(b"    ", b"\t", rng.randint(1, 5)))
        out[f"mutant_{seed}_{i:03d}.py"] = bytes(b)
    return out


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def special_entries(root: Path) -> dict[str, str]:
    """Create the entries a walk must account for under ``root``; returns ``{path:
    expected skip reason}`` (``None`` for a file that must be kept). The unreadable file
    is chmod 000 — as root that does not stop reading, so callers patch it (see
    ``unreadable_path``)."""
    root = Path(root)
    (root / "specials").mkdir(parents=True, exist_ok=True)
    s = root / "specials"
    expected: dict[str, str | None] = {}
    (s / "target.py").write_text("def target():\n    return 'kept'\n")
    expected["specials/target.py"] = None
    os.symlink("target.py", s / "link_to_file.py")
    expected["specials/link_to_file.py"] = "symlink"
    os.symlink("does_not_exist.py", s / "broken_link.py")
    expected["specials/broken_link.py"] = "symlink"
    os.symlink("loop_a.py", s / "loop_b.py")
    os.symlink("loop_b.py", s / "loop_a.py")
    expected["specials/loop_a.py"] = "symlink_loop"
    expected["specials/loop_b.py"] = "symlink_loop"
    os.symlink("self_loop.py", s / "self_loop.py")
    expected["specials/self_loop.py"] = "symlink_loop"
    (s / "a_directory.py").mkdir()
    (s / "a_directory.py" / "inside.py").write_text("def inside():\n    return 'in a dir named .py'\n")
    expected["specials/a_directory.py"] = "not_a_file"
    expected["specials/a_directory.py/inside.py"] = None
    os.symlink("a_directory.py", s / "link_to_dir.py")
    expected["specials/link_to_dir.py"] = "symlink"
    (s / "realdir").mkdir()
    (s / "realdir" / "under_linked_dir.py").write_text("def under():\n    return 1\n")
    expected["specials/realdir/under_linked_dir.py"] = None
    os.symlink("realdir", s / "dirlink")  # a directory symlink: not followed (its .py paths are not walked)
    os.symlink(".", s / "loopdir")        # a directory symlink loop
    os.mkfifo(s / "a_fifo.py")
    expected["specials/a_fifo.py"] = "not_a_file"
    (s / "locked.py").write_text("def locked():\n    return 1\n")
    os.chmod(s / "locked.py", 0)
    expected["specials/locked.py"] = "unreadable"
    (s / "tests").mkdir()
    (s / "tests" / "test_thing.py").write_text("def test_thing():\n    assert True\n")
    expected["specials/tests/test_thing.py"] = "excluded_test_dir"
    (s / "tests" / "data.py").mkdir()
    expected["specials/tests/data.py"] = "excluded_test_dir"
    (s / "not_python.txt").write_text("x")
    (s / "big.py").write_bytes(b"x = 1\n" * 300_000)
    expected["specials/big.py"] = "too_large"
    (s / "target_copy.py").write_text("def target():\n    return 'kept'\n")  # sorts after target.py
    expected["specials/target_copy.py"] = "duplicate"
    (s / "weird name ;$(x) ' \" \\.py").write_text("def weird():\n    return 1\n")
    expected["specials/weird name ;$(x) ' \" \\.py"] = None
    bad = os.fsencode(str(s)) + b"/undecodable_\xff\xfe.py"
    with open(bad, "wb") as fh:
        fh.write(b"def undecodable_name():\n    return 1\n")
    expected["specials/undecodable_\\xff\\xfe.py"] = None
    return expected


def unreadable_path(root: Path) -> str:
    return str(Path(root) / "specials" / "locked.py")


def restore_permissions(root: Path) -> None:
    p = Path(unreadable_path(root))
    if p.exists():
        os.chmod(p, stat.S_IRUSR | stat.S_IWUSR)


def walk_py_paths(root: Path) -> list[str]:
    """Every path under ``root`` whose name ends in ``.py``, found by ``os.walk`` (not
    following directory symlinks): the count a corpus report must reconcile with."""
    out = []
    root_b = os.fsencode(str(root))
    for dirpath, dirnames, filenames in os.walk(root_b):
        for name in dirnames + filenames:
            if name.endswith(b".py"):
                rel = os.path.relpath(os.path.join(dirpath, name), root_b)
                out.append(rel.decode("utf-8", "backslashreplace"))
    return sorted(out)
