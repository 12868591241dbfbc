"""Corpus collection: sources, bad-input filtering, deduplication, package splits.

Sources (``corpus.source``):

- ``stdlib``: the CPython standard library of the running interpreter (test suites
  excluded unless ``include_tests``; ``site-packages`` never included);
- ``dir``: every ``*.py`` under a local directory;
- ``jsonl``: a JSONL file of ``{"path": ..., "content": ...}`` records;
- ``hf``: a Hugging Face dataset id (e.g. a The Stack subset) — needs the ``datasets``
  package and network access, and fails with a clear error otherwise.

Every file that is not kept is reported with a reason (``skipped.csv``): binary,
not_utf8, empty, too_large, duplicate. Files with syntax errors are *kept* (tree-sitter
recovers the error-free subtrees) and flagged ``has_syntax_error``.
Splits are by package (top-level module), so val/test hold whole held-out packages.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import sys
import sysconfig
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

TEST_DIR_NAMES = {"test", "tests", "idle_test", "unittests"}


class CorpusError(RuntimeError):
    """The corpus source cannot be read (names the config key to fix)."""


@dataclass
class RawFile:
    path: str  # relative path, '/'-separated
    data: bytes
    source: str


@dataclass
class CorpusResult:
    files: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


# ----------------------------------------------------------------------------- sources


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _is_test_path(rel: Path) -> bool:
    parts = rel.parts
    if any(p in TEST_DIR_NAMES for p in parts[:-1]):
        return True
    return False


def iter_dir(root: Path, source: str, include_tests: bool = True, exclude_dirs: Iterable[str] = ()) -> Iterator[RawFile]:
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"config key 'corpus.path': directory {str(root)!r} does not exist")
    exclude = set(exclude_dirs) | {"__pycache__"}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in exclude)
        for fn in sorted(filenames):
            if not fn.endswith(".py"):
                continue
            full = Path(dirpath) / fn
            rel = full.relative_to(root)
            if not include_tests and _is_test_path(rel):
                continue
            if full.is_symlink() or not full.is_file():
                continue
            yield RawFile(rel.as_posix(), full.read_bytes(), source)


def iter_stdlib(include_tests: bool = False) -> Iterator[RawFile]:
    root = stdlib_root()
    return iter_dir(root, f"stdlib:{platform.python_version()}", include_tests,
                    exclude_dirs={"site-packages", "dist-packages"})


def iter_jsonl(path: str | Path) -> Iterator[RawFile]:
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"config key 'corpus.path': JSONL file {str(path)!r} does not exist")
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                rel, content = rec["path"], rec["content"]
            except (ValueError, KeyError, TypeError) as exc:
                raise CorpusError(f"{path}:{lineno}: expected a JSON object with 'path' and 'content' ({exc})") from exc
            data = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else bytes(content)
            yield RawFile(str(rel), data, f"jsonl:{path.name}")


def iter_hf(name: str, max_files: int | None = None) -> Iterator[RawFile]:
    try:
        import datasets  # noqa: F401
    except ImportError as exc:
        raise CorpusError(
            f"config key 'corpus.path': Hugging Face dataset {name!r} needs the 'datasets' package "
            "(pip install datasets) and network access to the Hub") from exc
    try:
        ds = datasets.load_dataset(name, split="train", streaming=True)
    except Exception as exc:  # offline, gated, missing
        raise CorpusError(
            f"config key 'corpus.path': cannot load Hugging Face dataset {name!r} "
            f"(offline or not accessible: {type(exc).__name__}: {exc}). On a machine without "
            "Hub access use corpus.source: dir or jsonl.") from exc
    for i, rec in enumerate(ds):
        if max_files is not None and i >= max_files:
            break
        content = rec.get("content") or rec.get("text") or ""
        rel = rec.get("path") or rec.get("max_stars_repo_path") or f"hf/{i:08d}.py"
        yield RawFile(str(rel), content.encode("utf-8", "surrogateescape"), f"hf:{name}")


def iter_source(cfg: dict) -> Iterator[RawFile]:
    src = cfg["source"]
    if src == "stdlib":
        return iter_stdlib(cfg.get("include_tests", False))
    if src == "dir":
        return iter_dir(Path(cfg["path"]), f"dir:{cfg['path']}", cfg.get("include_tests", True))
    if src == "jsonl":
        return iter_jsonl(cfg["path"])
    if src == "hf":
        return iter_hf(cfg["path"], cfg.get("max_files"))
    raise CorpusError(f"config key 'corpus.source': unknown source {src!r}")


# ----------------------------------------------------------------------------- filtering


def package_of(rel: str) -> str:
    first = rel.split("/", 1)[0]
    return first[:-3] if first.endswith(".py") else first


def classify(data: bytes, max_bytes: int) -> tuple[str | None, str, str | None]:
    """Return (reason or None, detail, decoded text or None)."""
    if len(data) == 0 or not data.strip():
        return "empty", f"{len(data)} bytes", None
    if len(data) > max_bytes:
        return "too_large", f"{len(data)} bytes > corpus.max_file_bytes={max_bytes}", None
    if b"\x00" in data:
        return "binary", "contains NUL bytes", None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "not_utf8", f"byte {exc.start}: {exc.reason}", None
    return None, "", text


def has_syntax_error(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
        return False
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True


def assign_splits(package_sizes: dict[str, int], val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """Deterministic package → split: packages in a seeded hash order fill val, then
    test, up to their share of files; the rest is train."""
    order = sorted(package_sizes, key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
    total = sum(package_sizes.values()) or 1
    out, val_n, test_n = {}, 0, 0
    for p in order:
        n = package_sizes[p]
        if val_n < val_fraction * total and val_n + n <= max(val_fraction * total * 1.5, 1):
            out[p] = "val"
            val_n += n
        elif test_n < test_fraction * total and test_n + n <= max(test_fraction * total * 1.5, 1):
            out[p] = "test"
            test_n += n
        else:
            out[p] = "train"
    return out


def build_corpus(cfg: dict, seed: int = 0, raw: Iterable[RawFile] | None = None) -> CorpusResult:
    """Collect, filter, dedupe and split. ``raw`` overrides the configured source."""
    raw = iter_source(cfg) if raw is None else raw
    max_bytes = int(cfg.get("max_file_bytes", 1_000_000))
    max_files = cfg.get("max_files")
    res = CorpusResult()
    seen: dict[str, str] = {}
    kept = []
    for rf in sorted(raw, key=lambda r: r.path):
        if max_files is not None and len(kept) >= max_files:
            break
        reason, detail, text = classify(rf.data, max_bytes)
        sha = hashlib.sha256(rf.data).hexdigest()
        if reason is None and sha in seen:
            reason, detail = "duplicate", f"same SHA-256 as {seen[sha]}"
        if reason is not None:
            res.skipped.append({"path": rf.path, "reason": reason, "detail": detail, "source": rf.source})
            continue
        seen[sha] = rf.path
        kept.append({
            "path": rf.path,
            "package": package_of(rf.path),
            "sha256": sha,
            "n_bytes": len(rf.data),
            "source": rf.source,
            "has_syntax_error": has_syntax_error(text),
            "content": text,
        })
    sizes: dict[str, int] = {}
    for f in kept:
        sizes[f["package"]] = sizes.get(f["package"], 0) + 1
    splits = assign_splits(sizes, cfg.get("val_fraction", 0.1), cfg.get("test_fraction", 0.1), seed)
    for i, f in enumerate(kept):
        f["file_id"] = i
        f["split"] = splits[f["package"]]
    res.files = [{k: f[k] for k in ("file_id", "path", "package", "split", "sha256", "n_bytes", "source",
                                    "has_syntax_error", "content")} for f in kept]
    return res


def manifest(res: CorpusResult, cfg: dict, seed: int) -> dict:
    entries = [{k: f[k] for k in ("file_id", "path", "package", "split", "sha256", "n_bytes")} for f in res.files]
    digest = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()
    splits = {s: sum(1 for f in res.files if f["split"] == s) for s in ("train", "val", "test")}
    return {
        "corpus": cfg.get("name"),
        "source": cfg.get("source"),
        "path": cfg.get("path"),
        "interpreter": {
            "implementation": platform.python_implementation(),
            "version": platform.python_version(),
            "executable": sys.executable,
            "stdlib": str(stdlib_root()) if cfg.get("source") == "stdlib" else None,
        },
        "seed": seed,
        "n_files": len(res.files),
        "n_skipped": len(res.skipped),
        "splits": splits,
        "packages": {s: sorted({f["package"] for f in res.files if f["split"] == s}) for s in ("val", "test")},
        "manifest_sha256": digest,
        "files": entries,
    }


def report(res: CorpusResult) -> dict:
    reasons: dict[str, int] = {}
    for s in res.skipped:
        reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
    return {
        "n_files": len(res.files),
        "n_bytes": sum(f["n_bytes"] for f in res.files),
        "n_syntax_error": sum(f["has_syntax_error"] for f in res.files),
        "n_skipped": len(res.skipped),
        "skipped_by_reason": reasons,
    }


def write_corpus(res: CorpusResult, cfg: dict, seed: int, files_path, manifest_path, skipped_path, report_path) -> None:
    import csv

    from .runtime import atomic_path

    with atomic_path(files_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for f in res.files:
            fh.write(json.dumps(f, ensure_ascii=False) + "\n")
    with atomic_path(skipped_path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "reason", "detail", "source"])
        w.writeheader()
        w.writerows(res.skipped)
    with atomic_path(report_path) as tmp:
        Path(tmp).write_text(json.dumps(report(res), indent=1, sort_keys=True) + "\n")
    with atomic_path(manifest_path) as tmp:
        Path(tmp).write_text(json.dumps(manifest(res, cfg, seed), indent=1) + "\n")


def read_files(path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
