"""Static properties of functions (the targets of Experiment 0.3's linear probes).

For every function/method region of the ``ast`` mask:

``cyclomatic``
    radon's cyclomatic complexity of the function (``ComplexityVisitor``; radon lists
    methods both flat and under their class, so blocks are keyed by line and counted once).
``n_branches``
    ``if``/``elif`` statements, conditional expressions and ``match`` cases.
``n_loops``
    ``for``/``async for``/``while`` statements (comprehensions are not counted).
``return_category``
    ``none`` / ``primitive`` / ``collection`` / ``custom``: from the return annotation
    when there is one (``Optional[X]`` and ``X | None`` count as X), else from the
    ``return`` expressions (the most common category; generators are ``collection``;
    no value-returning ``return`` is ``none``).
``side_effects``
    True when the function does I/O (calls ``print``/``open``/``input``, or a method or
    function named like an I/O operation: ``write``, ``read``, ``send``, ``system``, ...,
    or anything under ``os``/``sys``/``subprocess``/``shutil``/``socket``/``logging`` other
    than ``os.path``), or mutates state it does not own: assigns/deletes an attribute or
    item of a parameter (``self`` included) or of a non-local name, calls a mutating
    method (``append``, ``update``, ...) on one, or declares ``global``/``nonlocal``.
``n_external_calls``
    call sites whose callee's root name is bound by an ``import`` (in the module or in
    the function).
``loc``
    radon's source lines of code (``raw.analyze(...).sloc``) of the whole definition.

Nested function and class bodies are their own regions: their statements are not
counted in the enclosing function (radon's complexity follows radon's own rules).
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections import Counter

from .parsing import failure_reason, parse_python, recursion_budget

PRIMITIVE_TYPES = {"int", "float", "str", "bool", "bytes", "complex", "bytearray", "Literal", "LiteralString"}
COLLECTION_TYPES = {
    "list", "dict", "set", "tuple", "frozenset", "List", "Dict", "Set", "Tuple", "FrozenSet", "Sequence",
    "MutableSequence", "Mapping", "MutableMapping", "Iterable", "Iterator", "Generator", "AsyncIterator",
    "AsyncIterable", "AsyncGenerator", "Collection", "AbstractSet", "MutableSet", "deque", "defaultdict",
    "OrderedDict", "Counter", "ChainMap", "KeysView", "ValuesView", "ItemsView", "range",
}
PRIMITIVE_CALLS = {"int", "float", "str", "bool", "len", "repr", "abs", "round", "sum", "hash", "ord", "chr",
                   "isinstance", "issubclass", "callable", "hasattr", "format", "bytes", "id", "ascii", "bin",
                   "hex", "oct", "any", "all", "divmod", "pow"}
COLLECTION_CALLS = {"list", "dict", "set", "tuple", "sorted", "frozenset", "reversed", "map", "filter", "zip",
                    "enumerate", "range", "iter", "deque", "defaultdict", "OrderedDict", "Counter"}
PRIMITIVE_METHODS = {"join", "format", "lower", "upper", "strip", "lstrip", "rstrip", "replace", "startswith",
                     "endswith", "encode", "decode", "count", "find", "rfind", "index", "isdigit", "isalpha",
                     "isspace", "title", "capitalize", "casefold", "hexdigest", "digest", "getvalue"}
COLLECTION_METHODS = {"split", "rsplit", "splitlines", "keys", "values", "items", "copy", "partition",
                      "rpartition", "most_common"}
IO_FUNCS = {"print", "open", "input"}
IO_METHODS = {"write", "writelines", "read", "readline", "readlines", "send", "sendall", "sendto", "recv",
              "recvfrom", "flush", "system", "popen", "unlink", "remove", "rmdir", "mkdir", "makedirs",
              "rename", "replace_file", "rmtree", "copyfile", "connect", "accept", "bind", "listen",
              "info", "debug", "warning", "error", "exception", "critical", "check_call", "check_output"}
IO_MODULES = {"os", "sys", "subprocess", "shutil", "socket", "logging"}
MUTATING_METHODS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "add",
                    "discard", "sort", "reverse", "popitem", "appendleft", "extendleft", "popleft",
                    "__setitem__", "__delitem__", "difference_update", "intersection_update",
                    "symmetric_difference_update"}

COLUMNS = ["func_key", "file_id", "qualname", "split", "package", "cyclomatic", "n_branches", "n_loops",
           "return_category", "side_effects", "n_external_calls", "loc", "parse_ok"]

FuncNode = (ast.FunctionDef, ast.AsyncFunctionDef)
Scope = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def own_nodes(fn):
    """Nodes of ``fn``'s body, not descending into nested functions/classes/lambdas."""
    stack = list(fn.body)
    while stack:
        n = stack.pop()
        yield n
        for c in ast.iter_child_nodes(n):
            if not isinstance(c, Scope):
                stack.append(c)
            else:
                # decorators / defaults of a nested def are evaluated in our scope
                if isinstance(c, FuncNode):
                    stack.extend(c.decorator_list)
                    stack.extend(c.args.defaults + [d for d in c.args.kw_defaults if d])


def root_name(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Starred)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def imported_names(tree_or_fn) -> set[str]:
    names = set()
    for n in ast.walk(tree_or_fn):
        if isinstance(n, ast.Import):
            for a in n.names:
                names.add(a.asname or a.name.split(".")[0])
        elif isinstance(n, ast.ImportFrom):
            for a in n.names:
                if a.name != "*":
                    names.add(a.asname or a.name)
    return names


def params_of(fn) -> set[str]:
    a = fn.args
    names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    names += [x.arg for x in (a.vararg, a.kwarg) if x]
    return set(names)


# ----------------------------------------------------------------------------- counts


def count_branches(fn, nodes=None) -> int:
    n = 0
    for x in nodes if nodes is not None else own_nodes(fn):
        if isinstance(x, (ast.If, ast.IfExp)):
            n += 1
        elif isinstance(x, ast.match_case):
            n += 1
    return n


def count_loops(fn, nodes=None) -> int:
    return sum(isinstance(x, (ast.For, ast.AsyncFor, ast.While)) for x in (nodes if nodes is not None else own_nodes(fn)))


def count_external_calls(fn, module_imports: set[str], nodes=None) -> int:
    nodes = list(own_nodes(fn)) if nodes is None else nodes
    local_imports = {a.asname or (a.name.split(".")[0] if isinstance(x, ast.Import) else a.name)
                     for x in nodes if isinstance(x, (ast.Import, ast.ImportFrom)) for a in x.names}
    imported = module_imports | local_imports
    return sum(1 for x in nodes if isinstance(x, ast.Call) and root_name(x.func) in imported)


# ----------------------------------------------------------------------------- return type


def _annotation_category(ann) -> str:
    if isinstance(ann, ast.Constant):
        if ann.value is None:
            return "none"
        if isinstance(ann.value, str):
            sub, _ = parse_python(ann.value, mode="eval")
            return _annotation_category(sub.body) if sub is not None else "custom"
        return "custom"
    if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):  # X | None
        cats = [_annotation_category(ann.left), _annotation_category(ann.right)]
        non_none = [c for c in cats if c != "none"]
        return non_none[0] if non_none else "none"
    if isinstance(ann, ast.Subscript):
        base = dotted(ann.value).split(".")[-1]
        if base in ("Optional", "Union"):
            elts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
            cats = [_annotation_category(e) for e in elts]
            non_none = [c for c in cats if c != "none"]
            return non_none[0] if non_none else "none"
        if base in ("Literal",):
            return "primitive"
        return _name_category(base)
    name = dotted(ann).split(".")[-1]
    if name == "None" or name == "NoReturn" or name == "Never":
        return "none"
    return _name_category(name)


def _name_category(name: str) -> str:
    if name in PRIMITIVE_TYPES:
        return "primitive"
    if name in COLLECTION_TYPES:
        return "collection"
    return "custom"


def _expr_category(e) -> str | None:
    """Category of a returned expression; None for a literal ``None``."""
    if isinstance(e, ast.Constant):
        return None if e.value is None else ("primitive" if not isinstance(e.value, type(...)) else "custom")
    if isinstance(e, (ast.JoinedStr, ast.Compare)):
        return "primitive"
    if isinstance(e, ast.UnaryOp):
        return "primitive" if isinstance(e.op, ast.Not) else (_expr_category(e.operand) or "primitive")
    if isinstance(e, ast.BoolOp):
        cats = [c for c in map(_expr_category, e.values) if c]
        return cats[0] if cats else None
    if isinstance(e, ast.BinOp):  # arithmetic unless an operand is known to be a collection
        cats = {_expr_category(e.left), _expr_category(e.right)}
        return "collection" if "collection" in cats else "primitive"
    if isinstance(e, (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp,
                      ast.GeneratorExp)):
        return "collection"
    if isinstance(e, ast.IfExp):
        return _expr_category(e.body) or _expr_category(e.orelse)
    if isinstance(e, ast.Call):
        if isinstance(e.func, ast.Name):
            if e.func.id in PRIMITIVE_CALLS:
                return "primitive"
            if e.func.id in COLLECTION_CALLS:
                return "collection"
        if isinstance(e.func, ast.Attribute):
            if e.func.attr in PRIMITIVE_METHODS:
                return "primitive"
            if e.func.attr in COLLECTION_METHODS:
                return "collection"
        return "custom"
    return "custom"


def return_category(fn, nodes=None) -> str:
    if fn.returns is not None:
        return _annotation_category(fn.returns)
    nodes = list(own_nodes(fn)) if nodes is None else nodes
    if any(isinstance(x, (ast.Yield, ast.YieldFrom)) for x in nodes):
        return "collection"
    cats = [_expr_category(x.value) for x in nodes if isinstance(x, ast.Return) and x.value is not None]
    cats = [c for c in cats if c]
    if not cats:
        return "none"
    counts = Counter(cats)
    best = max(counts.values())
    return next(c for c in cats if counts[c] == best)


# ----------------------------------------------------------------------------- side effects


def has_side_effects(fn, nodes=None) -> bool:
    params = params_of(fn)
    nodes = list(own_nodes(fn)) if nodes is None else nodes
    local = {t.id for t in nodes if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
    local -= params

    def not_owned(node) -> bool:
        r = root_name(node)
        return r is not None and r not in local

    for x in nodes:
        if isinstance(x, (ast.Global, ast.Nonlocal)):
            return True
        targets = []
        if isinstance(x, ast.Assign):
            targets = x.targets
        elif isinstance(x, (ast.AugAssign, ast.AnnAssign)):
            targets = [x.target] if not (isinstance(x, ast.AnnAssign) and x.value is None) else []
        elif isinstance(x, ast.Delete):
            targets = x.targets
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, (ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, (ast.Store, ast.Del)) \
                        and not_owned(sub):
                    return True
        if isinstance(x, ast.Call):
            f = x.func
            if isinstance(f, ast.Name) and f.id in IO_FUNCS:
                return True
            if isinstance(f, ast.Attribute):
                if f.attr in IO_METHODS:
                    return True
                d = dotted(f)
                head = d.split(".")[0] if d else ""
                if head in IO_MODULES and not d.startswith("os.path.") and d not in ("os.fspath", "sys.intern"):
                    return True
                if f.attr in MUTATING_METHODS and not_owned(f.value):
                    return True
    return False


# ----------------------------------------------------------------------------- radon


def radon_complexity_by_line(tree) -> dict[int, int]:
    """Cyclomatic complexity of every function in a module, keyed by its ``def`` line.

    radon lists methods both flat and under their class and nested functions as
    closures; walking every block and keying by line counts each function once."""
    from radon.visitors import ComplexityVisitor

    out: dict[int, int] = {}
    stack = list(ComplexityVisitor.from_ast(tree).blocks)
    while stack:
        b = stack.pop()
        if hasattr(b, "methods"):  # Class
            stack.extend(b.methods)
            stack.extend(getattr(b, "inner_classes", []))
            continue
        out.setdefault(b.lineno, b.complexity)
        stack.extend(getattr(b, "closures", []))
    return out


# radon's raw analysis re-tokenizes a growing buffer for every line of a multi-line
# token or statement: quadratic in its length (a 2000-line docstring takes ~6 s, 50000
# lines about an hour). Definitions longer than this many lines are counted in one
# tokenize pass instead (the longest stdlib function has 386 lines).
RADON_MAX_LINES = 1000


def sloc(source: str) -> int:
    """radon's source lines of code of a definition (``raw.analyze(...).sloc``); for
    definitions over ``RADON_MAX_LINES`` lines, the same definition computed in linear
    time (:func:`sloc_linear`)."""
    from radon.raw import analyze

    if source.count("\n") + source.count("\r") > RADON_MAX_LINES:
        return sloc_linear(source)
    try:
        return analyze(textwrap.dedent(source)).sloc
    except Exception:  # tokenize errors on odd indentation: count non-blank, non-comment lines
        return _sloc_plain(source)


def _sloc_plain(source: str) -> int:
    return sum(1 for ln in _py_lines(source) if ln.strip() and not ln.strip().startswith("#"))


def sloc_linear(source: str) -> int:
    """Physical lines with code, as radon counts them, in one tokenize pass: lines of
    logical lines that are not only a string (docstrings) or only comments, blank lines
    excluded."""
    import io
    import tokenize

    text = textwrap.dedent(source)
    rows = text.splitlines()
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return _sloc_plain(source)
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    n, group = 0, []
    for tok in toks:
        if tok.type not in skip:
            group.append(tok)
        if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER) and group:
            if not (len(group) == 1 and group[0].type == tokenize.STRING):
                first, last = group[0].start[0], group[-1].end[0]
                n += sum(1 for r in range(first, last + 1) if r - 1 < len(rows) and rows[r - 1].strip())
            group = []
    return n


def _py_lines(content: str) -> list[str]:
    """Lines as CPython numbers them (``\n``, ``\r\n`` or ``\r``; not form feeds or the
    other separators ``str.splitlines`` knows), ends kept."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", content)


def _snippet_function(lines: list[str], r: dict, src: str):
    """The region's function parsed on its own (file does not parse): ``(fn, cc)``, or
    ``(None, (reason, detail))``."""
    first = int(r["def_line"]) - 1 - src[: max(src.find("def"), 0)].count("\n")
    snippet = textwrap.dedent("".join(lines[max(first, 0): int(r["end_line"])]))
    sub, why = parse_python(snippet)
    if sub is None:
        return None, why
    fn = next((n for n in ast.walk(sub) if isinstance(n, FuncNode)), None)
    if fn is None:
        return None, ("syntax_error", "no function definition in the region's lines")
    return fn, radon_complexity_by_line(sub)


def file_properties(content: str, regions: list[dict], skipped: list | None = None,
                    path: str = "") -> tuple[list[dict], int]:
    """Properties of the function regions of one file. Returns rows and the number of
    functions whose properties could not be computed (row with ``parse_ok`` false).

    Nothing here raises on odd input: a file CPython cannot parse falls back to each
    function's own lines; a function that still fails (syntax, recursion budget, parser
    memory) is a counted skip, appended to ``skipped`` as ``{func_key, file_id, path,
    qualname, reason, detail}``. Parsing and the tree walks run within the recursion
    budget of :mod:`swejepa.parsing`."""
    skipped = [] if skipped is None else skipped
    with recursion_budget():
        tree, file_why = parse_python(content)
        lines = _py_lines(content)
        by_line = {}
        cc: dict[int, int] = {}
        mod_imports: set[str] = set()
        if tree is not None:
            for n in ast.walk(tree):
                if isinstance(n, FuncNode):
                    by_line[n.lineno] = n
            mod_imports = imported_names(tree)  # imports anywhere in the module bind names
            try:
                cc = radon_complexity_by_line(tree)
            except Exception:  # noqa: BLE001 -- e.g. recursion in radon's visitor: per function below
                cc = {}
        rows, failed = [], 0
        for r in regions:
            row = {"func_key": r["func_key"], "file_id": r["file_id"], "qualname": r["qualname"],
                   "split": r["split"], "package": r["package"]}
            try:
                row.update(_function_row(r, content, lines, by_line, cc, mod_imports))
            except _Skip as sk:
                row.update(_failed(skipped, r, path, sk.why))
            except Exception as exc:  # noqa: BLE001 -- one function must not stop the stage
                row.update(_failed(skipped, r, path, failure_reason(exc)))
            if not row["parse_ok"]:
                failed += 1
            rows.append(row)
    return rows, failed


class _Skip(Exception):
    def __init__(self, why):
        self.why = why


def _failed(skipped: list, r: dict, path: str, why) -> dict:
    skipped.append({"func_key": r["func_key"], "file_id": r["file_id"], "path": path, "qualname": r["qualname"],
                    "reason": why[0], "detail": why[1]})
    return {"parse_ok": False}


def _function_row(r, content, lines, by_line, cc, mod_imports) -> dict:
    fn = by_line.get(int(r["def_line"]))
    src = content[int(r["sig_start_char"]): int(r["body_end_char"])]
    local_cc = cc
    if fn is None:  # file does not parse: try the function on its own
        fn, got = _snippet_function(lines, r, src)
        if fn is None:
            raise _Skip(got)
        local_cc = got
    if fn.lineno not in local_cc:  # radon skips e.g. methods of a class nested in a function
        local_cc = {**local_cc, **radon_complexity_by_line(ast.Module(body=[fn], type_ignores=[]))}
    nodes = list(own_nodes(fn))
    return dict(
        cyclomatic=local_cc.get(fn.lineno),
        n_branches=count_branches(fn, nodes),
        n_loops=count_loops(fn, nodes),
        return_category=return_category(fn, nodes),
        side_effects=has_side_effects(fn, nodes),
        n_external_calls=count_external_calls(fn, mod_imports, nodes),
        loc=sloc(src),
        parse_ok=True,
    )


def corpus_properties(files: list[dict], regions) -> tuple[list[dict], dict]:
    """Properties of every function/method region; ``regions`` is the ast regions table.

    The report counts the functions whose properties could not be computed
    (``n_unparsable``, by reason in ``skipped_by_reason``) and lists each with its path
    and reason (``skipped_functions``); their rows stay in the table with ``parse_ok``
    false, so the table keeps one row per function region."""
    import pandas as pd

    regions = pd.DataFrame(regions)
    if len(regions):
        regions = regions[regions["kind"].isin(["function", "method"])]
    by_file = {fid: g.to_dict("records") for fid, g in regions.groupby("file_id", sort=False)} if len(regions) else {}
    rows, failed, skipped = [], 0, []
    for f in files:
        regs = by_file.get(f["file_id"])
        if not regs:
            continue
        r, n = file_properties(f["content"], regs, skipped, f.get("path", ""))
        rows.extend(r)
        failed += n
    report = {"n_functions": len(rows), "n_unparsable": failed,
              "return_category": dict(Counter(r.get("return_category") for r in rows if r.get("parse_ok"))),
              "side_effects_true": sum(1 for r in rows if r.get("side_effects") is True),
              "skipped_by_reason": dict(sorted(Counter(s["reason"] for s in skipped).items())),
              "skipped_functions": skipped}
    return rows, report
