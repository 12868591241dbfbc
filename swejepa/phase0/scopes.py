"""Python name binding, statically: which scope binds each identifier of a snippet.

Used by the lexically hard rewrite (``rename_all`` in :mod:`swejepa.phase0.rewrites`), which
renames every identifier a snippet's functions bind, and by the tests, which check that a
renamed text shares no bound identifier with its original and that independently written
implementations bind disjoint names.

Scopes follow Python's rules: module, function (``def``/``async def``), ``lambda``,
comprehension (list/set/dict/generator; its first iterable is evaluated in the enclosing
scope) and class (its names are attributes; nested scopes do not see them). Decorators,
default values, annotations and class bases belong to the enclosing scope; ``global`` and
``nonlocal`` declarations redirect a name; a ``:=`` inside a comprehension binds in the
nearest enclosing function or module scope. Binding sites: assignment/``for``/``with``/``del``
targets, parameters, ``def``/``class`` names, ``except ... as``, import aliases, ``match``
captures.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(eq=False)
class Scope:
    node: ast.AST
    kind: str                                  # module | function | lambda | comprehension | class
    parent: "Scope | None"
    bound: set = field(default_factory=set)
    globals: set = field(default_factory=set)
    nonlocals: set = field(default_factory=set)
    sites: dict = field(default_factory=dict)  # name -> [binding nodes]

    def bind(self, name: str, site: ast.AST) -> None:
        self.bound.add(name)
        self.sites.setdefault(name, []).append(site)

    @property
    def is_function_like(self) -> bool:
        return self.kind in ("function", "lambda", "comprehension")


@dataclass
class Occurrence:
    """One identifier in the text: ``node.<attr>`` (``attr`` ``names`` + ``index`` for
    global/nonlocal lists) seen from ``scope``; ``binding`` is the scope it resolves to
    (None: a builtin or a name bound outside the snippet)."""
    node: ast.AST
    attr: str
    name: str
    scope: Scope
    index: int | None = None
    binding: Scope | None = None


def _arg_nodes(a: ast.arguments) -> list[ast.arg]:
    return a.posonlyargs + a.args + ([a.vararg] if a.vararg else []) + a.kwonlyargs + ([a.kwarg] if a.kwarg else [])


class Analysis:
    """Scopes and identifier occurrences of a module; :meth:`binding_of` resolves a name."""

    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.module = Scope(tree, "module", None)
        self.scopes: list[Scope] = [self.module]
        self.scope_of_node: dict[int, Scope] = {id(tree): self.module}
        self.occurrences: list[Occurrence] = []
        self.star_import = False
        self._visit_body(tree.body, self.module)
        for oc in self.occurrences:
            oc.binding = self._resolve(oc)

    # ------------------------------------------------------------------ collection
    def _new(self, node, kind, parent) -> Scope:
        s = Scope(node, kind, parent)
        self.scopes.append(s)
        self.scope_of_node[id(node)] = s
        return s

    def _occ(self, node, attr, scope, bind: bool, index=None):
        name = getattr(node, attr) if index is None else getattr(node, attr)[index]
        self.occurrences.append(Occurrence(node, attr, name, scope, index))
        if bind:
            target = scope
            scope.bind(name, node)
            return target
        return None

    def _visit_body(self, stmts, scope):
        for s in stmts:
            self._visit(s, scope)

    def _visit_args_outer(self, a: ast.arguments, scope):
        for d in a.defaults + [d for d in a.kw_defaults if d is not None]:
            self._visit(d, scope)
        for x in _arg_nodes(a):
            if x.annotation is not None:
                self._visit(x.annotation, scope)

    def _visit(self, node, scope):  # noqa: C901 -- one case per binding construct
        if isinstance(node, _FUNCS):
            for d in node.decorator_list:
                self._visit(d, scope)
            self._visit_args_outer(node.args, scope)
            if node.returns is not None:
                self._visit(node.returns, scope)
            self._occ(node, "name", scope, bind=True)
            inner = self._new(node, "function", scope)
            for x in _arg_nodes(node.args):
                self._occ(x, "arg", inner, bind=True)
            self._visit_body(node.body, inner)
            return
        if isinstance(node, ast.Lambda):
            self._visit_args_outer(node.args, scope)
            inner = self._new(node, "lambda", scope)
            for x in _arg_nodes(node.args):
                self._occ(x, "arg", inner, bind=True)
            self._visit(node.body, inner)
            return
        if isinstance(node, ast.ClassDef):
            for d in node.decorator_list + node.bases + [k.value for k in node.keywords]:
                self._visit(d, scope)
            self._occ(node, "name", scope, bind=True)
            inner = self._new(node, "class", scope)
            self._visit_body(node.body, inner)
            return
        if isinstance(node, _COMPS):
            gens = node.generators
            self._visit(gens[0].iter, scope)
            inner = self._new(node, "comprehension", scope)
            for i, g in enumerate(gens):
                if i:
                    self._visit(g.iter, inner)
                self._visit(g.target, inner)
                for c in g.ifs:
                    self._visit(c, inner)
            for part in ((node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,)):
                self._visit(part, inner)
            return
        if isinstance(node, ast.NamedExpr):
            self._visit(node.value, scope)
            target = scope
            while target.kind == "comprehension":
                target = target.parent
            self._occ(node.target, "id", scope, bind=False)
            target.bind(node.target.id, node.target)
            self.occurrences[-1].scope = target  # resolves where it binds
            return
        if isinstance(node, ast.Name):
            self._occ(node, "id", scope, bind=isinstance(node.ctx, (ast.Store, ast.Del)))
            return
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            (scope.globals if isinstance(node, ast.Global) else scope.nonlocals).update(node.names)
            for i in range(len(node.names)):
                self._occ(node, "names", scope, bind=False, index=i)
            return
        if isinstance(node, ast.ExceptHandler):
            if node.type is not None:
                self._visit(node.type, scope)
            if node.name:
                self._occ(node, "name", scope, bind=True)
            self._visit_body(node.body, scope)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for al in node.names:
                if al.name == "*":
                    self.star_import = True
                    continue
                if al.asname:
                    self._occ(al, "asname", scope, bind=True)
                else:
                    # `import a.b` binds `a`; recorded under its first component
                    first = al.name.split(".")[0]
                    self.occurrences.append(Occurrence(al, "name", first, scope))
                    scope.bind(first, al)
            return
        if isinstance(node, (ast.MatchAs, ast.MatchStar)):
            if node.name:
                self._occ(node, "name", scope, bind=True)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            self._occ(node, "rest", scope, bind=True)
        for child in ast.iter_child_nodes(node):
            self._visit(child, scope)

    # ------------------------------------------------------------------ resolution
    def _enclosing(self, scope: Scope, name: str) -> Scope | None:
        s = scope.parent
        while s is not None:
            if s.kind == "class":
                s = s.parent
                continue
            if s.kind == "module":
                return s if name in s.bound else None
            if name in s.globals:
                return self.module if name in self.module.bound else None
            if name in s.bound and name not in s.nonlocals:
                return s
            s = s.parent
        return None

    def binding_of(self, scope: Scope, name: str) -> Scope | None:
        """The scope whose binding of ``name`` is seen from ``scope`` (None: builtin/outside)."""
        if name in scope.globals:
            return self.module if name in self.module.bound else None
        if name in scope.nonlocals:
            return self._enclosing(scope, name)
        if name in scope.bound:
            return scope
        if scope.kind == "module":
            return None
        return self._enclosing(scope, name)

    def _resolve(self, oc: Occurrence) -> Scope | None:
        return self.binding_of(oc.scope, oc.name)


def function_bound_names(src: str) -> set[str]:
    """Identifiers bound by the snippet's functions: names of its ``def``s at any level,
    their parameters and everything bound in function, lambda and comprehension scopes
    (not names bound at module level other than ``def`` names, nor class attributes)."""
    a = Analysis(ast.parse(src))
    out = set()
    for s in a.scopes:
        if s.is_function_like:
            out |= s.bound - s.globals - s.nonlocals
        else:
            for name, sites in s.sites.items():
                if any(isinstance(x, _FUNCS) for x in sites):
                    out.add(name)
    return out


def free_names(src: str) -> set[str]:
    """Names the snippet reads but binds nowhere, builtins aside: what it needs from an
    enclosing module (globals, other functions, classes) that is not in its text."""
    import builtins

    a = Analysis(ast.parse(src))
    return {oc.name for oc in a.occurrences if isinstance(oc.node, ast.Name) and oc.binding is None
            and not (oc.scope is a.module and oc.name in a.module.bound)} - set(dir(builtins))


def is_closed(src: str) -> bool:
    """A self-contained snippet: it needs no name from outside (:func:`free_names` is empty)
    and defines no method (a top-level ``def`` whose first parameter is ``self``/``cls``,
    whose attributes belong to a class defined elsewhere)."""
    tree = ast.parse(src)
    for n in tree.body:
        if isinstance(n, _FUNCS) and n.args.args and n.args.args[0].arg in ("self", "cls"):
            return False
    return not free_names(src)
