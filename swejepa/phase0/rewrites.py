"""Semantics-preserving rewrites of Python functions (the refactoring-invariance part of
the Experiment 0.2 benchmark), implemented as ``ast`` transformers + ``ast.unparse``.

Each transform takes source text and returns rewritten source, or ``None`` when it does
not apply (nothing to change). Every output goes through ``ast.unparse``, so comments
and original formatting are always dropped (a surface change on its own). Transforms
are conservative: they only touch patterns whose rewrite keeps the behaviour, checked by
simple syntactic conditions (documented per transform); HumanEval rewrites are moreover
verified by running the problem's tests (see :mod:`swejepa.phase0.bench`).

Transforms (``TRANSFORMS``):
  rename        consistent renaming of parameters and local variables of every function
                (not ``self``/``cls``, not names declared global/nonlocal)
  for_to_while  ``for`` loops -> ``while`` loops (counter form for ``range`` loops,
                iterator/next form otherwise)
  while_to_for  counter ``while`` loops (``i = a; while i < b: ...; i += 1``) -> ``for``/``range``
  comp_to_loop  ``x = [e for ...]`` (list/set/dict comprehensions) -> accumulator loop
  loop_to_comp  accumulator loops (``x = []; for t in it: [if c:] x.append(e)``) -> comprehension
  invert_if     ``if c: A else: B`` -> ``if not c: B else: A``
  strip_docs    remove docstrings and type hints (comments go with unparse)
  reorder       swap adjacent independent assignments with side-effect-free values
  combined      all of the above in sequence (rename last)
  rename_all    the lexically hard rewrite: docstrings and type hints removed, then EVERY
                identifier the snippet's functions bind renamed to a meaningless name
                (``v4821``, functions ``f…``, classes ``c…``): the functions' own names,
                parameters (keyword-only, ``*args``/``**kwargs``, ``self``), locals, nested
                ``def``/``class`` names, lambda parameters, comprehension targets,
                ``except … as`` names, import aliases, ``match`` captures; call sites inside
                the snippet follow (keyword arguments passed by name to a renamed function,
                ``self.<own name>``). Not renamed: attributes, callees and globals bound
                outside the snippet, builtins, dunder names (``__init__`` is protocol, not a
                choice of the author), class attributes. Names are drawn at random (seeded by
                the text) from a large space, so that two hard rewrites of one function share
                no invented name either. Module-level ``typing`` imports left unused by the
                stripped hints are dropped. Returns None for snippets whose names are read
                dynamically (``locals``, ``vars``, ``eval``, ``exec``, ``globals``) or that use
                ``from … import *``.
  combined_all  strip_docs, invert_if, comp_to_loop, for_to_while, reorder, then rename_all

``rename_all`` and ``combined_all`` are the *hard* transforms (``HARD_TRANSFORMS``): their
items are flagged ``hard`` in the benchmark (no identifier of the original survives, so
identifier overlap cannot find the original).
"""

from __future__ import annotations

import ast
import copy
import random
from typing import Callable

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)

WORDS = ["value", "item", "data", "result", "tmp", "acc", "elem", "idx", "count", "buf",
         "node", "entry", "key", "val", "obj", "arg", "part", "cur", "total", "seq",
         "src", "dst", "res", "chunk", "token", "pos", "flag", "size", "num", "ref"]
PURE_CALLS = {"len", "int", "float", "str", "abs", "min", "max", "sorted", "list", "tuple",
              "set", "dict", "range", "sum", "bool", "round", "frozenset", "reversed", "enumerate", "zip"}


def _names(tree) -> set[str]:
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.alias):
            out.add((n.asname or n.name).split(".")[0])
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            out.update(n.names)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
    return out


def _fresh(taken: set[str], rng: random.Random, base: str | None = None) -> str:
    while True:
        w = base or rng.choice(WORDS)
        for k in range(1000):
            name = w if k == 0 and base else f"{w}_{k}" if k else w
            if name not in taken:
                taken.add(name)
                return name
        base = None


def _walk_no_scopes(node):
    """Nodes under ``node`` without entering nested function/class/lambda scopes."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        n = todo.pop()
        yield n
        if not isinstance(n, _SCOPES):
            todo.extend(ast.iter_child_nodes(n))


def _stores(nodes) -> set[str]:
    out = set()
    for stmt in nodes:
        for n in [stmt, *ast.walk(stmt)]:
            if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                out.add(n.id)
            elif isinstance(n, ast.ExceptHandler) and n.name:
                out.add(n.name)
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n is not stmt:
                out.add(n.name)
    return out


def _loads(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _all_names(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _parse(src: str) -> ast.Module:
    return ast.parse(src)


def _finish(orig: ast.Module, new: ast.Module) -> str | None:
    ast.fix_missing_locations(new)
    if ast.dump(orig) == ast.dump(new):
        return None
    out = ast.unparse(new)
    ast.parse(out)  # must stay valid
    return out


def _functions(tree):
    return [n for n in ast.walk(tree) if isinstance(n, _FUNCS)]


# --------------------------------------------------------------------------- rename

def rename(src: str, seed: int = 0) -> str | None:
    tree = _parse(src)
    new = copy.deepcopy(tree)
    rng = random.Random(seed)
    import builtins

    taken = _names(new) | set(dir(builtins))
    # outermost functions first: a nested function's own locals are renamed in its turn
    for fn in _functions(new):
        a = fn.args
        params = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs] + \
                 [x.arg for x in (a.vararg, a.kwarg) if x is not None]
        declared = set()
        for n in _walk_no_scopes(fn):
            if isinstance(n, (ast.Global, ast.Nonlocal)):
                declared.update(n.names)
        local = set(params)
        for n in _walk_no_scopes(fn):
            if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                local.add(n.id)
            elif isinstance(n, ast.ExceptHandler) and n.name:
                local.add(n.name)
        # names bound by nested defs/classes/imports are left alone
        for n in _walk_no_scopes(fn):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.discard(n.name)
            elif isinstance(n, ast.alias):
                local.discard((n.asname or n.name).split(".")[0])
            elif isinstance(n, ast.MatchAs) or isinstance(n, ast.MatchStar) or isinstance(n, ast.MatchMapping):
                return None  # match statements: not handled
        local -= declared | {"self", "cls", "__class__"}
        if not local:
            continue
        mapping = {old: _fresh(taken, rng) for old in sorted(local)}
        _apply_renames(fn, mapping)
    return _finish(tree, new)


def _apply_renames(fn, mapping: dict[str, str]) -> None:
    a = fn.args
    for x in a.posonlyargs + a.args + a.kwonlyargs + [y for y in (a.vararg, a.kwarg) if y is not None]:
        if x.arg in mapping:
            x.arg = mapping[x.arg]
    # defaults and decorators are evaluated in the enclosing scope: not renamed here
    todo = list(fn.body)
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Name) and n.id in mapping:
            n.id = mapping[n.id]
        elif isinstance(n, ast.ExceptHandler) and n.name in mapping:
            n.name = mapping[n.name]
        elif isinstance(n, ast.Nonlocal):
            n.names = [mapping.get(x, x) for x in n.names]
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            # a nested scope sees our locals unless it rebinds them (then it is its own,
            # renamed consistently anyway, except its parameters: keep those)
            inner_params = {x.arg for x in n.args.posonlyargs + n.args.args + n.args.kwonlyargs} | \
                {x.arg for x in (n.args.vararg, n.args.kwarg) if x is not None}
            sub = {k: v for k, v in mapping.items() if k not in inner_params}
            if sub:
                # defaults/decorators of the nested def are in our scope
                for d in list(n.args.defaults) + [d for d in n.args.kw_defaults if d is not None]:
                    _rename_expr(d, mapping)
                if not isinstance(n, ast.Lambda):
                    for d in n.decorator_list:
                        _rename_expr(d, mapping)
                    _apply_body(n.body, sub)
                else:
                    _rename_expr(n.body, sub)
            continue
        if isinstance(n, ast.ClassDef):
            for d in n.decorator_list + n.bases:
                _rename_expr(d, mapping)
            continue  # class bodies are their own namespace
        todo.extend(ast.iter_child_nodes(n))


def _rename_expr(node, mapping):
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id in mapping:
            n.id = mapping[n.id]


def _apply_body(body, mapping):
    wrapper = ast.FunctionDef(name="_", args=ast.arguments(posonlyargs=[], args=[], vararg=None,
                              kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
                              body=body, decorator_list=[], returns=None, type_params=[])
    _apply_renames(wrapper, mapping)


# --------------------------------------------------------------------------- loops

def _has_continue(body) -> bool:
    """A ``continue`` that belongs to this loop (not to a nested loop)."""
    todo = list(body)
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Continue):
            return True
        if isinstance(n, _LOOPS + _SCOPES):
            continue
        todo.extend(ast.iter_child_nodes(n))
    return False


def _has_yield_await(node) -> bool:
    return any(isinstance(n, (ast.Yield, ast.YieldFrom, ast.Await)) for n in ast.walk(node))


def _count_uses(fn, name) -> int:
    return sum(1 for n in ast.walk(fn) if isinstance(n, ast.Name) and n.id == name)


class _BodyRewriter:
    """Walks every statement list of a function (bodies of compound statements too) and
    lets ``rewrite(stmts, i, fn, taken)`` replace statement i by a list of statements."""

    def __init__(self, fn_rewrite):
        self.fn_rewrite = fn_rewrite

    def run(self, tree: ast.Module) -> None:
        taken = _names(tree)
        for fn in _functions(tree):
            self._lists(fn, fn, taken)

    def _lists(self, node, fn, taken):
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                i = 0
                while i < len(stmts):
                    s = stmts[i]
                    if not isinstance(s, _FUNCS + (ast.ClassDef,)):
                        self._lists(s, fn, taken)
                    rep = self.fn_rewrite(stmts, i, fn, taken)
                    if rep is not None:
                        n_old, new = rep
                        stmts[i:i + n_old] = new
                        i += len(new)
                    else:
                        i += 1
        for h in getattr(node, "handlers", []) or []:
            self._lists(h, fn, taken)


def _for_to_while(stmts, i, fn, taken):
    s = stmts[i]
    if not isinstance(s, ast.For):
        return None
    it = s.iter
    tgt = s.target
    is_range = (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"
                and not it.keywords and 1 <= len(it.args) <= 2 and "range" not in _stores([fn]))
    if is_range and not s.orelse and isinstance(tgt, ast.Name) and not _has_continue(s.body) \
            and tgt.id not in _stores(s.body) and _count_uses(fn, tgt.id) == _count_uses(s, tgt.id):
        start = it.args[0] if len(it.args) == 2 else ast.Constant(0)
        stop = it.args[-1]
        pre = [ast.Assign(targets=[ast.Name(tgt.id, ast.Store())], value=start)]
        if not (isinstance(stop, ast.Constant) or (isinstance(stop, ast.Name) and stop.id not in _stores(s.body))):
            bound = _fresh(taken, random.Random(len(taken)), "stop")
            pre.append(ast.Assign(targets=[ast.Name(bound, ast.Store())], value=stop))
            stop = ast.Name(bound, ast.Load())
        cond = ast.Compare(left=ast.Name(tgt.id, ast.Load()), ops=[ast.Lt()], comparators=[stop])
        body = list(s.body) + [ast.AugAssign(target=ast.Name(tgt.id, ast.Store()), op=ast.Add(), value=ast.Constant(1))]
        return 1, pre + [ast.While(test=cond, body=body, orelse=[])]
    # general form: it = iter(X); while True: try: t = next(it) except StopIteration: [else]; break
    # (a `for ... else` body runs exactly when the iterator is exhausted, not after `break`)
    itn = _fresh(taken, random.Random(len(taken)), "iterator")
    pre = ast.Assign(targets=[ast.Name(itn, ast.Store())],
                     value=ast.Call(func=ast.Name("iter", ast.Load()), args=[it], keywords=[]))
    get = ast.Try(body=[ast.Assign(targets=[tgt], value=ast.Call(func=ast.Name("next", ast.Load()),
                                                                   args=[ast.Name(itn, ast.Load())], keywords=[]))],
                  handlers=[ast.ExceptHandler(type=ast.Name("StopIteration", ast.Load()), name=None,
                                            body=list(s.orelse) + [ast.Break()])],
                  orelse=[], finalbody=[])
    if {"iter", "next", "StopIteration"} & _stores([fn]):
        return None
    return 1, [pre, ast.While(test=ast.Constant(True), body=[get] + list(s.body), orelse=[])]


def _while_to_for(stmts, i, fn, taken):
    s = stmts[i]
    if not isinstance(s, ast.While) or s.orelse or i == 0 or _has_continue(s.body):
        return None
    init = stmts[i - 1]
    if not (isinstance(init, ast.Assign) and len(init.targets) == 1 and isinstance(init.targets[0], ast.Name)):
        return None
    var = init.targets[0].id
    t = s.test
    if not (isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Lt)
            and isinstance(t.left, ast.Name) and t.left.id == var):
        return None
    stop = t.comparators[0]
    last = s.body[-1] if s.body else None
    if not (isinstance(last, ast.AugAssign) and isinstance(last.target, ast.Name) and last.target.id == var
            and isinstance(last.op, ast.Add) and isinstance(last.value, ast.Constant) and last.value.value == 1):
        return None
    body = s.body[:-1]
    if not body or var in _stores(body) or _stores(body) & _all_names(stop) or _has_yield_await(stop):
        return None
    if not isinstance(stop, (ast.Name, ast.Constant)) or "range" in _stores([fn]):
        return None  # the bound is re-evaluated by while, once by range: only for stable bounds
    # the counter must not be used outside init + loop (its final value differs)
    if _count_uses(fn, var) != _count_uses(s, var) + 1:
        return None
    start = init.value
    if var in _all_names(start):
        return None
    args = [stop] if isinstance(start, ast.Constant) and start.value == 0 else [start, stop]
    new = ast.For(target=ast.Name(var, ast.Store()),
                  iter=ast.Call(func=ast.Name("range", ast.Load()), args=args, keywords=[]),
                  body=body, orelse=[])
    stmts[i - 1:i] = []  # drop the init; caller replaces stmts[i-1] (the while) now
    return 1, [new]


def _make_while_to_for():
    def fn_rewrite(stmts, i, fn, taken):
        s = stmts[i]
        if isinstance(s, ast.Assign) and i + 1 < len(stmts):
            probe = [s, stmts[i + 1]]
            res = _while_to_for(probe, 1, fn, taken)
            if res is not None:
                return 2, res[1]
        return None
    return fn_rewrite


def for_to_while(src: str, seed: int = 0) -> str | None:
    tree = _parse(src)
    new = copy.deepcopy(tree)
    _BodyRewriter(_for_to_while).run(new)
    return _finish(tree, new)


def while_to_for(src: str, seed: int = 0) -> str | None:
    tree = _parse(src)
    new = copy.deepcopy(tree)
    _BodyRewriter(_make_while_to_for()).run(new)
    return _finish(tree, new)


# --------------------------------------------------------------------------- comprehensions

def _comp_loop(comp, acc: str):
    """Statements that fill accumulator ``acc`` as the comprehension ``comp`` would."""
    if isinstance(comp, ast.ListComp):
        init, add = ast.List(elts=[], ctx=ast.Load()), ast.Expr(ast.Call(
            func=ast.Attribute(ast.Name(acc, ast.Load()), "append", ast.Load()), args=[comp.elt], keywords=[]))
    elif isinstance(comp, ast.SetComp):
        init, add = ast.Call(func=ast.Name("set", ast.Load()), args=[], keywords=[]), ast.Expr(ast.Call(
            func=ast.Attribute(ast.Name(acc, ast.Load()), "add", ast.Load()), args=[comp.elt], keywords=[]))
    else:
        init = ast.Dict(keys=[], values=[])
        add = ast.Assign(targets=[ast.Subscript(ast.Name(acc, ast.Load()), comp.key, ast.Store())], value=comp.value)
    inner = [add]
    for gen in reversed(comp.generators):
        for cond in reversed(gen.ifs):
            inner = [ast.If(test=cond, body=inner, orelse=[])]
        inner = [ast.For(target=gen.target, iter=gen.iter, body=inner, orelse=[])]
    return [ast.Assign(targets=[ast.Name(acc, ast.Store())], value=init)] + inner


def _comp_targets(comp) -> set[str]:
    return {n.id for g in comp.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}


def _comp_to_loop(stmts, i, fn, taken):
    s = stmts[i]
    comp = getattr(s, "value", None)
    if not isinstance(comp, (ast.ListComp, ast.SetComp, ast.DictComp)) or any(g.is_async for g in comp.generators):
        return None
    if _has_yield_await(comp) or any(isinstance(n, ast.NamedExpr) for n in ast.walk(comp)):
        return None
    if isinstance(comp, ast.SetComp) and "set" in _stores([fn]):
        return None
    # loop variables leak out of a loop (not out of a comprehension): they must be
    # unused elsewhere in the function
    for v in _comp_targets(comp):
        if _count_uses(fn, v) != _count_uses(comp, v):
            return None
    if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name):
        acc = s.targets[0].id
        if acc in _all_names(comp):
            return None
        return 1, _comp_loop(comp, acc)
    if isinstance(s, ast.Return):
        acc = _fresh(taken, random.Random(len(taken)), "result")
        return 1, _comp_loop(comp, acc) + [ast.Return(ast.Name(acc, ast.Load()))]
    return None


def _loop_to_comp(stmts, i, fn, taken):
    """``x = []`` / ``set()`` / ``{}`` followed by a for loop whose body only adds to x."""
    s = stmts[i]
    if not (isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
            and i + 1 < len(stmts) and isinstance(stmts[i + 1], ast.For)):
        return None
    acc = s.targets[0].id
    v = s.value
    kind = ("list" if isinstance(v, ast.List) and not v.elts else
            "dict" if isinstance(v, ast.Dict) and not v.keys else
            "set" if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "set" and not v.args and not v.keywords
            else None)
    if kind is None:
        return None
    loop = stmts[i + 1]
    gens, node = [], loop
    while True:
        if not isinstance(node, ast.For) or node.orelse or isinstance(node, ast.AsyncFor):
            return None
        ifs, body = [], node.body
        while len(body) == 1 and isinstance(body[0], ast.If) and not body[0].orelse:
            ifs.append(body[0].test)
            body = body[0].body
        gens.append(ast.comprehension(target=node.target, iter=node.iter, ifs=ifs, is_async=0))
        if len(body) == 1 and isinstance(body[0], ast.For):
            node = body[0]
            continue
        break
    if len(body) != 1:
        return None
    add = body[0]
    if kind in ("list", "set"):
        meth = "append" if kind == "list" else "add"
        if not (isinstance(add, ast.Expr) and isinstance(add.value, ast.Call) and isinstance(add.value.func, ast.Attribute)
                and add.value.func.attr == meth and isinstance(add.value.func.value, ast.Name)
                and add.value.func.value.id == acc and len(add.value.args) == 1 and not add.value.keywords):
            return None
        elt = add.value.args[0]
        comp = ast.ListComp(elt=elt, generators=gens) if kind == "list" else ast.SetComp(elt=elt, generators=gens)
    else:
        if not (isinstance(add, ast.Assign) and len(add.targets) == 1 and isinstance(add.targets[0], ast.Subscript)
                and isinstance(add.targets[0].value, ast.Name) and add.targets[0].value.id == acc):
            return None
        comp = ast.DictComp(key=add.targets[0].slice, value=add.value, generators=gens)
    if acc in _all_names(ast.Module(body=[ast.Expr(comp)], type_ignores=[])) - set():
        # the accumulator itself must not be read inside (only written via append/add/[]=)
        reads = [n for n in ast.walk(comp) if isinstance(n, ast.Name) and n.id == acc]
        if reads:
            return None
    if _has_yield_await(comp) or any(isinstance(n, ast.NamedExpr) for n in ast.walk(comp)):
        return None
    if any(not isinstance(g.target, (ast.Name, ast.Tuple)) for g in gens):
        return None
    for name in _comp_targets(comp):
        # the loop variable would stop leaking: it must not be used after the loop
        if _count_uses(fn, name) != _count_uses(loop, name):
            return None
    return 2, [ast.Assign(targets=[ast.Name(acc, ast.Store())], value=comp)]


def comp_to_loop(src: str, seed: int = 0) -> str | None:
    tree = _parse(src)
    new = copy.deepcopy(tree)
    _BodyRewriter(_comp_to_loop).run(new)
    return _finish(tree, new)


def loop_to_comp(src: str, seed: int = 0) -> str | None:
    tree = _parse(src)
    new = copy.deepcopy(tree)
    _BodyRewriter(_loop_to_comp).run(new)
    return _finish(tree, new)


# --------------------------------------------------------------------------- if/else

_NEG = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
        ast.In: ast.NotIn, ast.NotIn: ast.In}


def _negate(test):
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        # `if not x` -> `if x` is the same branch choice (truthiness)
        return test.operand
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _NEG:
        return ast.Compare(left=test.left, ops=[_NEG[type(test.ops[0])]()], comparators=test.comparators)
    return ast.UnaryOp(op=ast.Not(), operand=test)


class _InvertIf(ast.NodeTransformer):
    def visit_If(self, node):
        self.generic_visit(node)
        if node.orelse:
            return ast.If(test=_negate(node.test), body=node.orelse, orelse=node.body)
        return node


def invert_if(src: str, seed: int = 0) -> str | None:
    tree = _parse(src)
    new = _InvertIf().visit(copy.deepcopy(tree))
    return _finish(tree, new)


# --------------------------------------------------------------------------- docs / hints

class _StripDocs(ast.NodeTransformer):
    def _strip(self, node):
        b = node.body
        if b and isinstance(b[0], ast.Expr) and isinstance(b[0].value, ast.Constant) and isinstance(b[0].value.value, str):
            node.body = b[1:] or [ast.Pass()]
        return node

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        node.returns = None
        for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs + \
                [x for x in (node.args.vararg, node.args.kwarg) if x is not None]:
            a.annotation = None
        return self._strip(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.generic_visit(node)
        return self._strip(node)

    def visit_Lambda(self, node):
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node):
        if node.value is not None and isinstance(node.target, ast.Name) and node.simple:
            return ast.Assign(targets=[node.target], value=node.value)
        if node.value is None:
            return None  # bare declaration `x: int`
        return node


def strip_docs(src: str, seed: int = 0) -> str | None:
    tree = _parse(src)
    new = _StripDocs().visit(copy.deepcopy(tree))
    new = _StripDocs()._strip(new)
    if isinstance(new, ast.Module):
        for fn in ast.walk(new):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module, ast.If,
                               ast.For, ast.While, ast.With, ast.Try)) and hasattr(fn, "body") and not fn.body:
                fn.body = [ast.Pass()]
    return _finish(tree, new)


# --------------------------------------------------------------------------- reorder

def _pure(expr) -> bool:
    for n in ast.walk(expr):
        if isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr, ast.Lambda,
                          ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return False
        if isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name) and n.func.id in PURE_CALLS):
            return False
    return True


def _simple_assign(s):
    if isinstance(s, ast.Assign) and len(s.targets) == 1 and _pure(s.value):
        t = s.targets[0]
        elts = t.elts if isinstance(t, ast.Tuple) else [t]
        if all(isinstance(e, ast.Name) for e in elts):
            return {e.id for e in elts}, _loads(s.value)
    return None


def _reorder(stmts, i, fn, taken):
    if i + 1 >= len(stmts):
        return None
    a, b = _simple_assign(stmts[i]), _simple_assign(stmts[i + 1])
    if a is None or b is None:
        return None
    (wa, ra), (wb, rb) = a, b
    if wa & wb or wa & rb or wb & ra:
        return None
    if _stores([fn]) & PURE_CALLS:
        return None
    return 2, [stmts[i + 1], stmts[i]]


def reorder(src: str, seed: int = 0) -> str | None:
    tree = _parse(src)
    new = copy.deepcopy(tree)
    _BodyRewriter(_reorder).run(new)
    return _finish(tree, new)


# --------------------------------------------------------------------------- rename_all

DYNAMIC_NAMES = {"locals", "vars", "eval", "exec", "globals"}
NAME_SPACE = 10_000  # invented names: prefix + a number below this


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _strip_hints_and_docs(tree: ast.Module) -> ast.Module:
    new = _StripDocs().visit(tree)
    for n in ast.walk(new):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.While,
                          ast.With, ast.Try)) and hasattr(n, "body") and not n.body:
            n.body = [ast.Pass()]
    return new


def _drop_unused_typing_imports(tree: ast.Module) -> None:
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
        {n.value.id for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
    body = []
    for s in tree.body:
        if isinstance(s, ast.ImportFrom) and s.module == "typing":
            s.names = [a for a in s.names if (a.asname or a.name) in used]
            if not s.names:
                continue
        elif isinstance(s, ast.Import) and all(a.name == "typing" and a.asname is None for a in s.names):
            if "typing" not in used:
                continue
        body.append(s)
    tree.body = body or [ast.Pass()]


def rename_all_map(src: str, seed: int = 0) -> tuple[str, dict[str, str]] | None:
    """``rename_all`` and the renaming of the snippet's top-level ``def`` names
    (``{old: new}``; the sandbox binds the old names to the new functions when it runs a
    problem's tests). None when the transform does not apply."""
    import builtins

    from .scopes import Analysis

    tree = _parse(src)
    new = _strip_hints_and_docs(copy.deepcopy(tree))
    _drop_unused_typing_imports(new)
    a = Analysis(new)
    if a.star_import or any(isinstance(n, ast.Name) and n.id in DYNAMIC_NAMES for n in ast.walk(new)):
        return None
    taken = _names(new) | set(dir(builtins)) | {n.attr for n in ast.walk(new) if isinstance(n, ast.Attribute)}
    rng = random.Random(f"rename_all:{seed}:{src}")

    def fresh(prefix):
        while True:
            name = f"{prefix}{rng.randrange(10, NAME_SPACE)}"
            if name not in taken:
                taken.add(name)
                return name

    # 1. the bindings to rename: (scope, name) -> new name
    mapping: dict[tuple[int, str], str] = {}
    for sc in a.scopes:
        for name, sites in sorted(sc.sites.items()):
            if _is_dunder(name) or name in sc.globals or name in sc.nonlocals:
                continue
            if any(isinstance(x, ast.alias) and x.asname is None and "." in x.name for x in sites):
                continue  # `import a.b` binds `a`; `import a.b as v` would bind a.b instead
            is_def = any(isinstance(x, _FUNCS) for x in sites)
            if sc.kind == "class" or (sc.kind == "module" and not is_def):
                continue  # class attributes; module-level names other than the snippet's defs
            prefix = "f" if is_def else "c" if any(isinstance(x, ast.ClassDef) for x in sites) else "v"
            mapping[(id(sc), name)] = fresh(prefix)
    if not mapping:
        return None
    # 2. parameter renames per function, and the unique def/class behind a binding
    params: dict[int, dict[str, str]] = {}
    for sc in a.scopes:
        if sc.kind in ("function", "lambda"):
            fn = sc.node
            params[id(fn)] = {x.arg: mapping[(id(sc), x.arg)] for x in fn.args.args + fn.args.kwonlyargs
                              if (id(sc), x.arg) in mapping}
    lambda_of = {id(n.targets[0]): n.value for n in ast.walk(new) if isinstance(n, ast.Assign)
                 and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Lambda)}
    def_of: dict[tuple[int, str], ast.AST] = {}
    for sc in a.scopes:
        for name, sites in sc.sites.items():
            if len(sites) == 1 and isinstance(sites[0], _FUNCS + (ast.ClassDef,)):
                def_of[(id(sc), name)] = sites[0]
            elif len(sites) == 1 and id(sites[0]) in lambda_of:   # f = lambda ...: ...
                def_of[(id(sc), name)] = lambda_of[id(sites[0])]

    def callee_params(binding, name) -> dict:
        node = def_of.get((id(binding), name)) if binding is not None else None
        if isinstance(node, ast.ClassDef):
            node = next((b for b in node.body if isinstance(b, _FUNCS) and b.name == "__init__"), None)
        return params.get(id(node), {}) if node is not None else {}

    # 3. `self.<own name>` in the snippet's top-level methods: (scope of self, own name) -> def
    occ_of = {id(oc.node): oc for oc in a.occurrences if isinstance(oc.node, ast.Name)}
    own: dict[tuple[int, str], ast.AST] = {}
    for fn in new.body:
        if isinstance(fn, _FUNCS) and fn.args.args and fn.args.args[0].arg in ("self", "cls") \
                and (id(a.module), fn.name) in mapping:
            own[(id(a.scope_of_node[id(fn)]), fn.args.args[0].arg)] = fn

    def own_def(name_node, attr):
        oc = occ_of.get(id(name_node))
        if oc is None or oc.binding is None:
            return None
        fn = own.get((id(oc.binding), oc.name))
        return fn if fn is not None and fn.name == attr else None

    changes: list[tuple] = []
    for n in ast.walk(new):
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            fn = own_def(n.value, n.attr)
            if fn is not None:
                changes.append((n, "attr", mapping[(id(a.module), fn.name)]))
        if isinstance(n, ast.Call) and n.keywords:
            f, pm = n.func, {}
            if isinstance(f, ast.Name) and id(f) in occ_of:
                pm = callee_params(occ_of[id(f)].binding, f.id)
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                fn = own_def(f.value, f.attr)
                pm = params.get(id(fn), {}) if fn is not None else {}
            changes += [(k, "arg", pm[k.arg]) for k in n.keywords if k.arg is not None and k.arg in pm]
    # 4. every occurrence whose binding is renamed
    top_names = [fn.name for fn in new.body if isinstance(fn, _FUNCS)]
    for oc in a.occurrences:
        key = (id(oc.binding), oc.name) if oc.binding is not None else None
        if key not in mapping:
            continue
        if oc.index is not None:
            getattr(oc.node, oc.attr)[oc.index] = mapping[key]
        elif isinstance(oc.node, ast.alias) and oc.attr == "name":
            oc.node.asname = mapping[key]     # `import re` -> `import re as v12`
        else:
            setattr(oc.node, oc.attr, mapping[key])
    for obj, attr, value in changes:
        setattr(obj, attr, value)
    top_map = {old: fn.name for old, fn in zip(top_names, [f for f in new.body if isinstance(f, _FUNCS)])
               if old != fn.name}
    out = _finish(tree, new)
    return None if out is None else (out, top_map)


def rename_all(src: str, seed: int = 0) -> str | None:
    r = rename_all_map(src, seed)
    return None if r is None else r[0]


def combined_all(src: str, seed: int = 0) -> str | None:
    out = src
    for f in (strip_docs, invert_if, comp_to_loop, for_to_while, reorder):
        r = f(out, seed)
        if r is not None:
            out = r
    return rename_all(out, seed)


def top_level_renames(original: str, rewritten: str) -> dict[str, str]:
    """``{old: new}`` names of the top-level ``def``s, matched in order (no transform
    reorders top-level definitions)."""
    a = [n.name for n in ast.parse(original).body if isinstance(n, _FUNCS)]
    b = [n.name for n in ast.parse(rewritten).body if isinstance(n, _FUNCS)]
    return {x: y for x, y in zip(a, b) if x != y}


# --------------------------------------------------------------------------- all

def combined(src: str, seed: int = 0) -> str | None:
    out, changed = src, False
    for f in (strip_docs, invert_if, comp_to_loop, for_to_while, reorder, rename):
        r = f(out, seed)
        if r is not None:
            out, changed = r, True
    return out if changed else None


TRANSFORMS: dict[str, Callable[[str, int], str | None]] = {
    "rename": rename,
    "for_to_while": for_to_while,
    "while_to_for": while_to_for,
    "comp_to_loop": comp_to_loop,
    "loop_to_comp": loop_to_comp,
    "invert_if": invert_if,
    "strip_docs": strip_docs,
    "reorder": reorder,
    "combined": combined,
    "rename_all": rename_all,
    "combined_all": combined_all,
}
HARD_TRANSFORMS = ("rename_all", "combined_all")


def rewrite_all(src: str, transforms=None, seed: int = 0) -> dict[str, str]:
    """``{transform: rewritten source}`` for every transform that applies to ``src``
    (and that does not crash on it; unsupported syntax simply yields no rewrite)."""
    from ..parsing import recursion_budget

    out = {}
    for name in transforms or TRANSFORMS:
        try:
            with recursion_budget():
                r = TRANSFORMS[name](src, seed)
        except Exception:  # noqa: BLE001 -- unsupported syntax, recursion budget, parser memory: no rewrite
            r = None
        if r is not None:
            out[name] = r
    return out
