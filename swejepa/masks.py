"""Structural masks: the regions of a Python file whose teacher latents are targets.

Two strategies (the seed's "masking level"):

``ast``
    tree-sitter-python: bodies of functions, methods (functions directly in a class
    body), ``except`` and ``finally`` blocks. A region is kept only when tree-sitter
    marks its subtree error-free, so files with syntax errors still contribute their
    intact parts.
``regex``
    function bodies found by indentation after ``def``: a line-based scanner that
    knows about triple-quoted strings, bracket continuation and one-line bodies —
    the cheap baseline the seed names.

A region's masked text is ``content[body_start_char:body_end_char]``: from the first
statement after the docstring to the end of the last statement (trailing comments
and blank lines excluded). The signature (decorators included, through the colon)
and the docstring are separate spans: context the student may see.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache

FIELDS = [
    "region_id", "func_key", "file_id", "split", "package", "kind", "name", "qualname", "class_name",
    "def_line", "doc_start_line", "start_line", "end_line",
    "sig_start_byte", "sig_end_byte", "sig_start_char", "sig_end_char",
    "doc_start_byte", "doc_end_byte", "doc_start_char", "doc_end_char",
    "body_start_byte", "body_end_byte", "body_start_char", "body_end_char",
    "body_lines", "has_error",
]

FUNCTION_KINDS = ("function", "method")


@dataclass
class Region:
    kind: str
    name: str
    qualname: str
    class_name: str
    def_line: int  # 1-based line of `def` (or of the handler keyword)
    sig_start_char: int
    sig_end_char: int
    doc_start_char: int
    doc_end_char: int
    body_start_char: int
    body_end_char: int
    has_error: bool = False


class Text:
    """A source text with char↔byte and char→line conversions."""

    def __init__(self, text: str):
        self.text = text
        self.data = text.encode("utf-8")
        self.ascii = len(self.data) == len(text)
        if not self.ascii:
            b2c = [0] * (len(self.data) + 1)
            b = 0
            for i, ch in enumerate(text):
                n = len(ch.encode("utf-8"))
                for k in range(n):
                    b2c[b + k] = i
                b += n
            b2c[b] = len(text)
            self._b2c = b2c
            c2b = [0] * (len(text) + 1)
            b = 0
            for i, ch in enumerate(text):
                c2b[i] = b
                b += len(ch.encode("utf-8"))
            c2b[len(text)] = b
            self._c2b = c2b
        # line starts (char offsets); newline = \n, \r\n or \r as Python's tokenizer
        self.line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def char(self, byte_off: int) -> int:
        return byte_off if self.ascii else self._b2c[byte_off]

    def byte(self, char_off: int) -> int:
        return char_off if self.ascii else self._c2b[char_off]

    def line_of(self, char_off: int) -> int:
        """1-based line number of a char offset."""
        import bisect

        return bisect.bisect_right(self.line_starts, char_off)


def to_rows(regions: list[Region], t: Text, file_id: int, split: str = "", package: str = "") -> list[dict]:
    rows = []
    for r in regions:
        d = asdict(r)
        start_line = t.line_of(r.body_start_char)
        end_line = t.line_of(max(r.body_end_char - 1, r.body_start_char))
        row = {
            "region_id": f"{file_id}:{r.kind}:{r.body_start_char}",
            "func_key": f"{file_id}:{r.def_line}" if r.kind in FUNCTION_KINDS else "",
            "file_id": file_id, "split": split, "package": package,
            "start_line": start_line, "end_line": end_line, "body_lines": end_line - start_line + 1,
            "doc_start_line": t.line_of(r.doc_start_char) if r.doc_start_char >= 0 else -1,
        }
        for k in ("sig", "doc", "body"):
            s, e = d[f"{k}_start_char"], d[f"{k}_end_char"]
            row[f"{k}_start_char"], row[f"{k}_end_char"] = s, e
            row[f"{k}_start_byte"] = t.byte(s) if s >= 0 else -1
            row[f"{k}_end_byte"] = t.byte(e) if e >= 0 else -1
        for k in ("kind", "name", "qualname", "class_name", "def_line", "has_error"):
            row[k] = d[k]
        rows.append({k: row[k] for k in FIELDS})
    return rows


# ----------------------------------------------------------------------------- tree-sitter


@lru_cache(maxsize=1)
def _parser():
    import tree_sitter
    import tree_sitter_python

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))


_LONE_CR = re.compile(rb"\r(?!\n)")


def parse(text: str | bytes):
    """tree-sitter parse. A lone ``\r`` ends a line for CPython but not for
    tree-sitter-python; it is given ``\n`` instead (same length: offsets unchanged)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if b"\r" in data:
        data = _LONE_CR.sub(b"\n", data)
    return _parser().parse(data)


def _is_docstring(node) -> bool:
    return (node.type == "expression_statement" and node.named_child_count == 1
            and node.named_children[0].type in ("string", "concatenated_string"))


def _block_spans(block, allow_doc: bool):
    """(doc_start, doc_end, body_start, body_end) byte offsets of a block; body is None
    when the block holds nothing but a docstring/comments."""
    stmts = [c for c in block.named_children if c.type != "comment"]
    doc = (-1, -1)
    if allow_doc and stmts and _is_docstring(stmts[0]):
        doc = (stmts[0].start_byte, stmts[0].end_byte)
        stmts = stmts[1:]
    if not stmts:
        return doc, None
    return doc, (stmts[0].start_byte, stmts[-1].end_byte)


def _colon_end(node, body) -> int:
    end = node.start_byte
    for c in node.children:
        if c.type == ":" and c.end_byte <= body.start_byte:
            end = c.end_byte
    return end


def ast_regions(text: str, t: Text | None = None) -> tuple[list[Region], dict]:
    """Regions found with tree-sitter, plus counts of what was dropped and why."""
    t = t or Text(text)
    tree = parse(t.data)
    out: list[Region] = []
    dropped = {"error_subtree": 0, "empty_body": 0}
    # explicit stack: (node, scope) where scope = tuple of (kind, name)
    stack = [(tree.root_node, ())]
    while stack:
        node, scope = stack.pop()
        typ = node.type
        if typ == "function_definition":
            name_node = node.child_by_field_name("name")
            name = name_node.text.decode("utf-8", "replace") if name_node else "?"
            body = node.child_by_field_name("body")
            parent = node.parent
            sig_start = parent.start_byte if parent is not None and parent.type == "decorated_definition" else node.start_byte
            enclosing_class = next((n for k, n in reversed(scope) if k == "class"), "")
            kind = "method" if scope and scope[-1][0] == "class" else "function"
            qual = ".".join([n for _, n in scope] + [name])
            if body is not None:
                _emit(out, dropped, t, node, body, sig_start, kind, name, qual, enclosing_class, allow_doc=True)
            new_scope = scope + (("def", name),)
            for c in reversed(node.children):
                stack.append((c, new_scope))
            continue
        if typ == "class_definition":
            name_node = node.child_by_field_name("name")
            name = name_node.text.decode("utf-8", "replace") if name_node else "?"
            new_scope = scope + (("class", name),)
            for c in reversed(node.children):
                stack.append((c, new_scope))
            continue
        if typ in ("except_clause", "except_group_clause", "finally_clause"):
            blocks = [c for c in node.children if c.type == "block"]
            if blocks:
                kind = "finally" if typ == "finally_clause" else "except"
                funcs = [n for k, n in scope if k == "def"]
                qual = ".".join(n for _, n in scope) or "<module>"
                enclosing_class = next((n for k, n in reversed(scope) if k == "class"), "")
                _emit(out, dropped, t, node, blocks[0], node.start_byte, kind,
                      funcs[-1] if funcs else "<module>", qual, enclosing_class, allow_doc=False)
        for c in reversed(node.children):
            stack.append((c, scope))
    out.sort(key=lambda r: (r.body_start_char, r.kind))
    return out, dropped


def _emit(out, dropped, t: Text, node, block, sig_start_b, kind, name, qual, cls, allow_doc):
    if node.has_error or node.is_missing:
        dropped["error_subtree"] += 1
        return
    (ds, de), body = _block_spans(block, allow_doc)
    if body is None:
        dropped["empty_body"] += 1
        return
    sig_end_b = _colon_end(node, block)
    out.append(Region(
        kind=kind, name=name, qualname=qual, class_name=cls,
        def_line=node.start_point.row + 1,
        sig_start_char=t.char(sig_start_b), sig_end_char=t.char(sig_end_b),
        doc_start_char=t.char(ds) if ds >= 0 else -1, doc_end_char=t.char(de) if de >= 0 else -1,
        body_start_char=t.char(body[0]), body_end_char=t.char(body[1]),
    ))


# ----------------------------------------------------------------------------- regex

_DEF = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]+([^\W\d]\w*)", re.UNICODE)
_CLASS = re.compile(r"^([ \t]*)class[ \t]+([^\W\d]\w*)", re.UNICODE)
_DECO = re.compile(r"^[ \t]*@")
_STR_START = re.compile(r"""^(?:[rRbBuUfF]{0,2})('''|\"\"\"|'|")""")


def _indent(line: str) -> int:
    ws = line[: len(line) - len(line.lstrip(" \t"))]
    return len(ws.expandtabs(8))


def _scan_line(line: str, state: str | None, depth: int) -> tuple[str | None, int, int]:
    """Advance a lexical state over one line.

    state: None or the open triple quote; depth: open bracket count. Returns the new
    state, depth and the char index of a comment start (-1 if none) — a minimal
    lexer so that `def` inside strings and continuation lines are not misread."""
    i, n, comment = 0, len(line), -1
    while i < n:
        if state:
            j = line.find(state, i)
            while j > 0 and line[j - 1] == "\\" and (j < 2 or line[j - 2] != "\\"):
                j = line.find(state, j + 1)
            if j < 0:
                return state, depth, comment
            i, state = j + 3, None
            continue
        ch = line[i]
        if ch == "#":
            return state, depth, i
        if ch in "'\"":
            if line.startswith(ch * 3, i):
                state = ch * 3
                i += 3
                continue
            j = i + 1
            while j < n and line[j] != ch:
                j += 2 if line[j] == "\\" else 1
            i = j + 1
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        i += 1
    return state, depth, comment


def regex_regions(text: str, t: Text | None = None) -> tuple[list[Region], dict]:
    """Function bodies found by indentation after ``def``."""
    t = t or Text(text)
    starts = t.line_starts
    lines = [text[starts[i]: (starts[i + 1] if i + 1 < len(starts) else len(text))] for i in range(len(starts))]
    bare = [ln.rstrip("\r\n") for ln in lines]
    # lexical state at the start of each line
    in_code = []
    state, depth = None, 0
    comment_at = []
    for ln in bare:
        in_code.append(state is None and depth == 0)
        state, depth, c = _scan_line(ln, state, depth)
        comment_at.append(c)

    def blank_or_comment(i):
        s = bare[i].strip()
        return not s or (s.startswith("#") and in_code[i])

    out: list[Region] = []
    dropped = {"empty_body": 0, "no_colon": 0}
    scope: list[tuple[int, str, str]] = []  # (indent, kind, name)
    for i, ln in enumerate(bare):
        if not in_code[i] or blank_or_comment(i):
            continue
        ind = _indent(ln)
        while scope and scope[-1][0] >= ind:
            scope.pop()
        m_cls = _CLASS.match(ln)
        if m_cls:
            scope.append((ind, "class", m_cls.group(2)))
            continue
        m = _DEF.match(ln)
        if not m:
            continue
        name = m.group(2)
        # signature start: decorators directly above
        k = i
        while k > 0 and _DECO.match(bare[k - 1]) and in_code[k - 1]:
            k -= 1
        sig_start = starts[k] + _indent_chars(bare[k])
        # signature end: first ':' at bracket depth 0 after the def
        pos = starts[i] + m.end()
        colon = _find_colon(text, pos)
        kind = "method" if scope and scope[-1][1] == "class" else "function"
        qual = ".".join([s[2] for s in scope] + [name])
        cls = next((s[2] for s in reversed(scope) if s[1] == "class"), "")
        scope.append((ind, "def", name))
        if colon < 0:
            dropped["no_colon"] += 1
            continue
        sig_end = colon + 1
        colon_line = t.line_of(colon) - 1
        rest = bare[colon_line][sig_end - starts[colon_line]:]
        rest_code = rest.split("#", 1)[0].strip() if "#" in rest and not any(q in rest for q in "'\"") else rest.strip()
        if rest_code:  # one-line body: `def f(): return 1`
            body_start = sig_end + (len(rest) - len(rest.lstrip()))
            seg = rest.rstrip()
            c = _scan_line(rest, None, 0)[2]
            if c >= 0:
                seg = rest[:c].rstrip()
            body_end = sig_end + len(seg)
            out.append(Region("function" if kind == "function" else "method", name, qual, cls, i + 1,
                              sig_start, sig_end, -1, -1, body_start, body_end))
            continue
        # indented block
        j = colon_line + 1
        last = None
        body_lines = []
        while j < len(bare):
            if in_code[j] and not blank_or_comment(j) and _indent(bare[j]) <= ind:
                break
            if not blank_or_comment(j):
                body_lines.append(j)
            j += 1
        if not body_lines:
            dropped["empty_body"] += 1
            continue
        first = body_lines[0]
        doc_s = doc_e = -1
        stmt_lines = body_lines
        if _STR_START.match(bare[first].lstrip()):
            # docstring: the lines up to where the lexer is back in code
            d = first
            while d + 1 < len(bare) and not in_code[d + 1]:
                d += 1
            doc_s = starts[first] + _indent_chars(bare[first])
            doc_e = starts[d] + len(bare[d].rstrip())
            stmt_lines = [x for x in body_lines if x > d]
            if not stmt_lines:
                dropped["empty_body"] += 1
                continue
        first, last = stmt_lines[0], stmt_lines[-1]
        body_start = starts[first] + _indent_chars(bare[first])
        tail = bare[last]
        c = comment_at[last]
        if c >= 0:
            tail = tail[:c]
        body_end = starts[last] + len(tail.rstrip())
        out.append(Region(kind, name, qual, cls, i + 1, sig_start, sig_end, doc_s, doc_e, body_start, body_end))
    return out, dropped


def _indent_chars(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _find_colon(text: str, pos: int) -> int:
    depth, i, n = 0, pos, len(text)
    while i < n:
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch in "'\"":
            j = i + 1
            while j < n and text[j] != ch and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            i = j
        elif ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif ch == ":" and depth == 0:
            return i
        i += 1
    return -1


# ----------------------------------------------------------------------------- corpus level

STRATEGIES = {"ast": ast_regions, "regex": regex_regions}


BOM = "\ufeff"


def _shift(r: Region, n: int) -> Region:
    d = asdict(r)
    for k in ("sig", "doc", "body"):
        for e in ("start", "end"):
            key = f"{k}_{e}_char"
            if d[key] >= 0:
                d[key] += n
    return Region(**d)


def mask_file(text: str, strategy: str, file_id: int = 0, split: str = "", package: str = "",
              min_body_lines: int = 0) -> tuple[list[dict], dict]:
    """Regions of one file (rows of the regions table) and counts of what was dropped.
    Offsets are into ``text`` exactly as given; a leading byte-order mark (kept in
    ``content``) is not code: the strategies see the text after it, and every offset is
    shifted back by it (one character, three UTF-8 bytes). Bodies shorter than
    ``min_body_lines`` are dropped and counted (0 keeps all; the workflow passes
    ``masks.min_body_lines``)."""
    t = Text(text)
    if text.startswith(BOM):
        rest = text[1:]
        regions, dropped = STRATEGIES[strategy](rest, Text(rest))
        regions = [_shift(r, 1) for r in regions]
    else:
        regions, dropped = STRATEGIES[strategy](text, t)
    rows = to_rows(regions, t, file_id, split, package)
    keep = [r for r in rows if r["body_lines"] >= min_body_lines]
    dropped = dict(dropped)
    dropped["short_body"] = len(rows) - len(keep)
    return keep, dropped


def mask_corpus(files: list[dict], strategy: str, min_body_lines: int = 0):
    """Regions of every file (in file order), and a report of counts.

    A file the strategy cannot process contributes no regions and is listed in the
    report's ``skipped_files`` (file_id, path, reason, detail; ``n_skipped_files``);
    the other files are unaffected."""
    import collections

    from .parsing import failure_reason, recursion_budget

    rows, dropped, kinds = [], collections.Counter(), collections.Counter()
    n_files_with = 0
    skipped = []
    for f in files:
        try:
            with recursion_budget():
                r, d = mask_file(f["content"], strategy, f["file_id"], f["split"], f["package"], min_body_lines)
        except Exception as exc:  # noqa: BLE001 -- one bad file must not stop the stage
            reason, detail = failure_reason(exc)
            skipped.append({"file_id": f["file_id"], "path": f.get("path", ""), "reason": reason, "detail": detail})
            continue
        rows.extend(r)
        dropped.update(d)
        kinds.update(x["kind"] for x in r)
        n_files_with += bool(r)
    report = {
        "strategy": strategy,
        "n_regions": len(rows),
        "by_kind": dict(sorted(kinds.items())),
        # masked body (docstring excluded) of >= 3 lines
        "n_function_regions_3plus_lines": sum(1 for x in rows if x["kind"] in FUNCTION_KINDS and x["body_lines"] >= 3),
        # the whole def block (docstring + body) of >= 3 lines
        "n_function_blocks_3plus_lines": sum(
            1 for x in rows if x["kind"] in FUNCTION_KINDS
            and x["end_line"] - (x["doc_start_line"] if x["doc_start_line"] > 0 else x["start_line"]) + 1 >= 3),
        "n_files": len(files),
        "n_files_with_regions": n_files_with,
        "dropped": dict(sorted(dropped.items())),
        "n_skipped_files": len(skipped),
        "skipped_files": skipped,
    }
    return rows, report


def agreement(regex_rows: list[dict], ast_rows: list[dict]):
    """Per-function comparison of the two strategies (function/method regions, keyed by
    ``func_key``): they agree when the masked body starts and ends on the same lines and
    starts at the same character."""
    def key(rows):
        return {r["func_key"]: r for r in rows if r["kind"] in FUNCTION_KINDS}

    a, b = key(regex_rows), key(ast_rows)
    out = []
    for k in sorted(set(a) | set(b), key=lambda s: tuple(int(x) for x in s.split(":"))):
        ra, rb = a.get(k), b.get(k)
        if ra is None or rb is None:
            status = "ast_only" if ra is None else "regex_only"
        elif (ra["start_line"], ra["end_line"], ra["body_start_char"]) == (rb["start_line"], rb["end_line"], rb["body_start_char"]):
            status = "agree"
        else:
            status = "span_differs"
        src = rb or ra
        out.append({"func_key": k, "file_id": src["file_id"], "qualname": src["qualname"], "status": status,
                    "regex_lines": f"{ra['start_line']}-{ra['end_line']}" if ra else "",
                    "ast_lines": f"{rb['start_line']}-{rb['end_line']}" if rb else ""})
    return out
