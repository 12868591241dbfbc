"""Independently written implementations of the same specifications (Experiment 0.2,
the seed's "sort implementations, cache implementations" case), written by hand.

``*.yaml`` in this folder, one list of specifications per theme. A specification::

    - spec_id: sort_ascending              # unique, used as the items' source_key
      spec: |                              # docstring-style, names no implementation
        Return a new list holding the given integers in ascending order ...
      tests: |                             # def check(candidate): ... (asserts)
        def check(candidate):
            assert candidate([3, 1, 2]) == [1, 2, 3]
      implementations:                     # 3-4 texts, each its own names/algorithm/API
        - |
          def insertion_sorted(values): ...

The *entry* of an implementation is its last top-level ``def`` or ``class`` (earlier
definitions are helpers); the tests receive it as ``candidate``. Every implementation is
verified against its specification's tests in :mod:`swejepa.sandbox` when the benchmark
is built (:func:`swejepa.phase0.bench.build_items`); failures are dropped and counted.
Authoring rules (``tests/test_equivalence.py`` checks them): implementations of one
specification bind disjoint identifiers (function, parameter, local and attribute names;
builtins and library APIs aside), differ in algorithm or library where natural, carry no
docstring, and the specification's text names none of them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Implementation:
    code: str

    @property
    def entry(self) -> str:
        """The last top-level function or class: what the tests call."""
        defs = [n.name for n in ast.parse(self.code).body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        if not defs:
            raise ValueError(f"implementation defines no function or class:\n{self.code}")
        return defs[-1]


@dataclass(frozen=True)
class Spec:
    spec_id: str
    spec: str
    tests: str
    implementations: tuple[Implementation, ...]
    source: str = ""

    def program(self, impl: Implementation, marker: str) -> str:
        """The sandboxed test program of one implementation (prints ``marker`` at the end)."""
        return (impl.code.rstrip() + "\n\n\n" + self.tests.rstrip() + "\n\n\n"
                + f"check({impl.entry})\nprint({marker!r}, flush=True)\n")


def spec_files() -> list[Path]:
    return sorted(HERE.glob("*.yaml"))


def load_specs(limit: int | None = None, paths=None) -> list[Spec]:
    """Every specification, in file then listed order (the first ``limit`` when given)."""
    import yaml

    out, seen = [], set()
    for p in (paths or spec_files()):
        for rec in yaml.safe_load(Path(p).read_text()) or []:
            sid = str(rec["spec_id"])
            if sid in seen:
                raise ValueError(f"{p}: duplicate spec_id {sid!r}")
            seen.add(sid)
            impls = tuple(Implementation(textwrap_dedent(c)) for c in rec["implementations"])
            out.append(Spec(sid, str(rec["spec"]).strip() + "\n", str(rec["tests"]), impls, Path(p).name))
    return out[:limit] if limit is not None else out


def textwrap_dedent(code: str) -> str:
    import textwrap

    return textwrap.dedent(code).strip() + "\n"
