"""Corpus collection: sources, bad-input filtering, deduplication, package splits.

Sources (``corpus.source``):

- ``stdlib``: the CPython standard library of the running interpreter (its
  ``site-packages``/``dist-packages`` directories are another source and are not walked);
- ``dir``: every ``*.py`` under a local directory (e.g. an unpacked sdist, a
  ``site-packages``);
- ``jsonl``: a JSONL file of ``{"path": ..., "content": ...}`` records;
- ``hf``: a Hugging Face dataset id (e.g. a The Stack subset) — needs the ``datasets``
  package and network access, and fails with a clear error otherwise.

Every candidate is either kept or listed in ``skipped.csv`` with a reason (``REASONS``):
for ``dir``/``stdlib`` every path under the root whose name ends in ``.py`` is a
candidate, whatever it is (file, symlink, directory, FIFO, ...), so ``report.json``
reconciles with a walk of the root (``n_files + n_skipped == walk.n_py_paths``).
Directories are walked without following symlinks. Files are decoded as CPython decodes
source (byte-order mark, PEP 263 coding line); ``content`` is the exact decoded text,
BOM included, newlines untranslated. Files with syntax errors are *kept* (tree-sitter
recovers the error-free subtrees) and flagged ``has_syntax_error``.
Splits are by package (top-level module), so val/test hold whole held-out packages.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import platform
import stat
import sys
import sysconfig
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from .parsing import parse_python
from .settings import CorpusSettings

TEST_DIR_NAMES = {"test", "tests", "idle_test", "unittests"}
# Directories of the stdlib root that belong to another source (installed packages).
STDLIB_PRUNE = ("site-packages", "dist-packages")

# Why a candidate is not kept (the `reason` column of skipped.csv): where the path is
# and what it is (decided by the walk, before reading), then — in path order, once
# corpus.max_files files are kept every later candidate is max_files — what its bytes are.
REASONS = {
    "excluded_test_dir": "under a test directory (test/, tests/, idle_test/, unittests/) and "
                         "corpus.test_dirs is 'skip'",
    "symlink": "a symbolic link (not followed; the detail names its target)",
    "symlink_loop": "a symbolic link that resolves to itself (ELOOP)",
    "not_a_file": "a directory, FIFO, socket or device whose name ends in .py",
    "unreadable": "could not be opened or read (permissions, I/O error)",
    "empty": "no bytes, or only whitespace (and a byte-order mark)",
    "too_large": "more than corpus.max_file_bytes bytes",
    "binary": "contains NUL bytes (CPython rejects them)",
    "not_utf8": "cannot be decoded as CPython would (UTF-8, or the PEP 263 coding line)",
    "duplicate": "same bytes (SHA-256) as a file kept earlier in path order",
    "max_files": "after the first corpus.max_files kept files in path order",
}

UTF8_BOM = codecs.BOM_UTF8


class CorpusError(RuntimeError):
    """The corpus source cannot be read (names the config key to fix)."""


@dataclass
class RawFile:
    path: str  # relative path, '/'-separated
    data: bytes
    source: str
    # set when the walk already decided not to keep it: (reason, detail)
    skip: tuple[str, str] | None = None
    # True for sources whose text is already decoded (jsonl, hf): the bytes are its
    # UTF-8 encoding, and a coding line inside it does not apply
    is_text: bool = False


@dataclass
class CorpusResult:
    files: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    # what the walk of a dir/stdlib root saw (report.json "walk")
    walk: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- sources


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _is_test_path(rel: str) -> bool:
    return any(p in TEST_DIR_NAMES for p in rel.split("/")[:-1])


def _display(rel: str) -> str:
    """A path as text that can always be written (undecodable file-name bytes become
    backslash escapes)."""
    try:
        rel.encode("utf-8")
        return rel
    except UnicodeEncodeError:
        return os.fsencode(rel).decode("utf-8", "backslashreplace")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def _read_regular(full: str, max_bytes: int) -> tuple[bytes, tuple[str, str] | None]:
    """Read a regular file without following links or blocking on FIFOs (the entry may
    have changed since it was listed); at most ``max_bytes + 1`` bytes."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(full, flags)
    except OSError as exc:
        return b"", ("unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return b"", ("not_a_file", _kind(st.st_mode))
        if st.st_size > max_bytes:
            return b"", ("too_large", f"{st.st_size} bytes > corpus.max_file_bytes={max_bytes}")
        chunks, n = [], 0
        while n <= max_bytes:
            b = os.read(fd, min(1 << 20, max_bytes + 1 - n))
            if not b:
                break
            chunks.append(b)
            n += len(b)
        data = b"".join(chunks)
        if len(data) > max_bytes:  # grew since fstat
            return b"", ("too_large", f"> {max_bytes} bytes (corpus.max_file_bytes)")
        return data, None
    except OSError as exc:
        return b"", ("unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
    finally:
        os.close(fd)


def _symlink_skip(full: str) -> tuple[str, str]:
    try:
        target = os.readlink(full)
    except OSError:
        target = "?"
    target = _display(target)
    try:
        st = os.stat(full)
    except OSError as exc:
        import errno

        if exc.errno == errno.ELOOP:
            return "symlink_loop", f"-> {target} (symlink loop)"
        return "symlink", f"-> {target} (broken: {exc.strerror})"
    kind = "file" if stat.S_ISREG(st.st_mode) else _kind(st.st_mode)
    return "symlink", f"-> {target} ({kind}, not followed)"


def iter_dir(root: Path, source: str, test_dirs: str = CorpusSettings.test_dirs,
             max_bytes: int = CorpusSettings.max_file_bytes, prune: Iterable[str] = (),
             walk: dict | None = None) -> Iterator[RawFile]:
    """Every path under ``root`` whose name ends in ``.py``, in sorted order, as a
    RawFile: with its bytes, or with ``skip`` set (test directory, symlink, not a
    regular file, unreadable, too large). Directories named in ``prune`` (another
    source's trees) are not entered; symlinks are never followed. ``walk`` (a dict) is
    filled with what the walk saw: ``root``, ``n_py_paths``, ``pruned_dirs``,
    ``dir_symlinks`` (not followed), ``unlisted_dirs`` (could not be listed)."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"config key 'corpus.path': directory {str(root)!r} does not exist")
    prune = set(prune)
    w = walk if walk is not None else {}
    w.update(root=str(root), n_py_paths=0, pruned_dirs=[], dir_symlinks=[], unlisted_dirs=[])
    skip_tests = test_dirs == "skip"
    stack = [""]  # relative directory paths, '/'-separated
    while stack:
        rel_dir = stack.pop()
        full_dir = os.path.join(root, rel_dir) if rel_dir else str(root)
        try:
            with os.scandir(full_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            w["unlisted_dirs"].append(f"{_display(rel_dir) or '.'} ({exc.strerror})")
            continue
        subdirs = []
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            try:
                is_link = e.is_symlink()
                is_dir = not is_link and e.is_dir(follow_symlinks=False)
            except OSError:
                is_link, is_dir = False, False
            if is_dir and not e.name.endswith(".py"):
                if e.name in prune:
                    w["pruned_dirs"].append(_display(rel))
                else:
                    subdirs.append(rel)
                continue
            if not e.name.endswith(".py"):
                if is_link:
                    try:
                        if os.path.isdir(e.path):
                            w["dir_symlinks"].append(_display(rel))
                    except OSError:
                        pass
                continue
            w["n_py_paths"] += 1
            shown = _display(rel)
            if is_dir:
                subdirs.append(rel)  # a directory named *.py: listed, and its files too
            if skip_tests and _is_test_path(rel):
                yield RawFile(shown, b"", source, ("excluded_test_dir", "corpus.test_dirs: skip"))
            elif is_link:
                yield RawFile(shown, b"", source, _symlink_skip(e.path))
            elif is_dir:
                yield RawFile(shown, b"", source, ("not_a_file", "directory (its files are walked)"))
            else:
                try:
                    mode = e.stat(follow_symlinks=False).st_mode
                except OSError as exc:
                    yield RawFile(shown, b"", source, ("unreadable", f"stat: {exc.strerror}"))
                    continue
                if not stat.S_ISREG(mode):
                    yield RawFile(shown, b"", source, ("not_a_file", _kind(mode)))
                    continue
                data, skip = _read_regular(e.path, max_bytes)
                yield RawFile(shown, data, source, skip)
        stack.extend(reversed(subdirs))


def iter_stdlib(test_dirs: str = CorpusSettings.test_dirs, max_bytes: int = CorpusSettings.max_file_bytes,
                walk: dict | None = None) -> Iterator[RawFile]:
    return iter_dir(stdlib_root(), f"stdlib:{platform.python_version()}", test_dirs, max_bytes,
                    prune=STDLIB_PRUNE, walk=walk)


def _text_bytes(content: str) -> bytes:
    # surrogatepass: a lone surrogate survives encoding and is then reported as not_utf8
    return content.encode("utf-8", "surrogatepass")


def iter_jsonl(path: str | Path, test_dirs: str = CorpusSettings.test_dirs) -> Iterator[RawFile]:
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
            yield _record(str(rel), content, f"jsonl:{path.name}", test_dirs)


def _record(rel: str, content, source: str, test_dirs: str) -> RawFile:
    rel = _display(rel)
    if test_dirs == "skip" and _is_test_path(rel):
        return RawFile(rel, b"", source, ("excluded_test_dir", "corpus.test_dirs: skip"))
    if isinstance(content, str):
        return RawFile(rel, _text_bytes(content), source, is_text=True)
    if isinstance(content, (bytes, bytearray)):
        return RawFile(rel, bytes(content), source)
    return RawFile(rel, b"", source, ("not_utf8", f"content is {type(content).__name__}, not text"))


def iter_hf(name: str, max_files: int | None = None, test_dirs: str = CorpusSettings.test_dirs) -> Iterator[RawFile]:
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
        yield _record(str(rel), content, f"hf:{name}", test_dirs)


def as_settings(cfg) -> CorpusSettings:
    """A :class:`CorpusSettings` (a mapping such as ``config["corpus"]`` is converted;
    its defaults come from the settings class)."""
    if isinstance(cfg, CorpusSettings):
        return cfg
    if isinstance(cfg, Mapping):
        return CorpusSettings.from_dict(dict(cfg))
    raise TypeError(f"expected CorpusSettings, got {type(cfg).__name__}")


def iter_source(cfg: CorpusSettings, walk: dict | None = None) -> Iterator[RawFile]:
    cfg = as_settings(cfg)
    src = cfg.source
    if src == "stdlib":
        return iter_stdlib(cfg.test_dirs, cfg.max_file_bytes, walk=walk)
    if src == "dir":
        return iter_dir(Path(cfg.path), f"dir:{cfg.path}", cfg.test_dirs, cfg.max_file_bytes, walk=walk)
    if src == "jsonl":
        return iter_jsonl(cfg.path, cfg.test_dirs)
    if src == "hf":
        return iter_hf(cfg.path, cfg.max_files, cfg.test_dirs)
    raise CorpusError(f"config key 'corpus.source': unknown source {src!r}")


# ----------------------------------------------------------------------------- filtering


def package_of(rel: str) -> str:
    first = rel.split("/", 1)[0]
    return first[:-3] if first.endswith(".py") else first


def decode_source(data: bytes, is_text: bool = False) -> tuple[str | None, str]:
    """Decode source bytes as CPython does: UTF-8 unless a byte-order mark or a PEP 263
    coding line (first two lines) says otherwise. Returns ``(text, "")`` or
    ``(None, why)``. The text keeps the BOM (as U+FEFF) and the newlines as they are.
    ``is_text``: the bytes are the UTF-8 encoding of already-decoded text (jsonl, hf),
    where a coding line no longer applies."""
    if is_text:
        enc = "utf-8"
    else:
        try:
            enc, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as exc:
            return None, f"encoding: {exc}"
        if enc == "utf-8-sig":
            enc = "utf-8"  # decode with the BOM kept as U+FEFF: content is the exact text
        try:
            ascii_compatible = "#\n".encode(enc) == b"#\n"
        except LookupError:
            ascii_compatible = False
        if not ascii_compatible:
            return None, f"coding line names {enc!r}, which CPython cannot read source in"
    try:
        return data.decode(enc), ""
    except UnicodeDecodeError as exc:
        return None, f"byte {exc.start}: {exc.reason} ({enc})"
    except LookupError as exc:
        return None, f"encoding: {exc}"


def classify(data: bytes, max_bytes: int, is_text: bool = False) -> tuple[str | None, str, str | None]:
    """Return (reason or None, detail, decoded text or None)."""
    if len(data) == 0 or not data.removeprefix(UTF8_BOM).strip():
        return "empty", f"{len(data)} bytes", None
    if len(data) > max_bytes:
        return "too_large", f"{len(data)} bytes > corpus.max_file_bytes={max_bytes}", None
    if b"\x00" in data:
        return "binary", f"NUL byte at offset {data.index(0)}", None
    text, why = decode_source(data, is_text)
    if text is None:
        return "not_utf8", why, None
    return None, "", text


def has_syntax_error(text: str) -> bool:
    """Whether CPython rejects the text (or cannot parse it within the recursion
    budget: very deep nesting, very long expressions)."""
    return parse_python(text)[0] is None


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


def build_corpus(cfg: CorpusSettings, seed: int = 0, raw: Iterable[RawFile] | None = None) -> CorpusResult:
    """Collect, filter, dedupe and split. ``raw`` overrides the configured source.

    Candidates are taken in path order; each is kept or appended to ``skipped`` with a
    reason (``REASONS``), so ``len(files) + len(skipped)`` is the number of candidates
    (for dir/stdlib: every ``*.py`` path of the walk, ``res.walk["n_py_paths"]``)."""
    cfg = as_settings(cfg)
    res = CorpusResult()
    raw = iter_source(cfg, walk=res.walk) if raw is None else raw
    max_bytes, max_files = cfg.max_file_bytes, cfg.max_files
    seen: dict[str, str] = {}
    kept = []
    for rf in sorted(raw, key=lambda r: r.path):
        if rf.skip is not None:
            reason, detail, text = rf.skip[0], rf.skip[1], None
        elif max_files is not None and len(kept) >= max_files:
            reason, detail, text = "max_files", f"corpus.max_files={max_files} files kept before it", None
        else:
            reason, detail, text = classify(rf.data, max_bytes, rf.is_text)
        sha = hashlib.sha256(rf.data).hexdigest() if reason is None else ""
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
    splits = assign_splits(sizes, cfg.val_fraction, cfg.test_fraction, seed)
    for i, f in enumerate(kept):
        f["file_id"] = i
        f["split"] = splits[f["package"]]
    res.files = [{k: f[k] for k in ("file_id", "path", "package", "split", "sha256", "n_bytes", "source",
                                    "has_syntax_error", "content")} for f in kept]
    return res


def manifest(res: CorpusResult, cfg: CorpusSettings, seed: int) -> dict:
    cfg = as_settings(cfg)
    entries = [{k: f[k] for k in ("file_id", "path", "package", "split", "sha256", "n_bytes")} for f in res.files]
    digest = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()
    splits = {s: sum(1 for f in res.files if f["split"] == s) for s in ("train", "val", "test")}
    return {
        "corpus": cfg.name,
        "source": cfg.source,
        "path": cfg.path,
        "interpreter": {
            "implementation": platform.python_implementation(),
            "version": platform.python_version(),
            "executable": sys.executable,
            "stdlib": str(stdlib_root()) if cfg.source == "stdlib" else None,
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
    """Counts. ``n_candidates = n_files + n_skipped``; for dir/stdlib sources ``walk``
    says what the walk of the root saw, and ``walk.n_py_paths == n_candidates``."""
    reasons: dict[str, int] = {}
    for s in res.skipped:
        reasons[s["reason"]] = reasons.get(s["reason"], 0) + 1
    out = {
        "n_files": len(res.files),
        "n_bytes": sum(f["n_bytes"] for f in res.files),
        "n_syntax_error": sum(f["has_syntax_error"] for f in res.files),
        "n_skipped": len(res.skipped),
        "n_candidates": len(res.files) + len(res.skipped),
        "skipped_by_reason": dict(sorted(reasons.items())),
    }
    if res.walk:
        out["walk"] = dict(res.walk)
    return out


def write_corpus(res: CorpusResult, cfg: CorpusSettings, seed: int, files_path, manifest_path, skipped_path,
                 report_path) -> None:
    import csv

    from .runtime import atomic_path

    with atomic_path(files_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for f in res.files:
            fh.write(json.dumps(f, ensure_ascii=False) + "\n")
    with atomic_path(skipped_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "reason", "detail", "source"])
        w.writeheader()
        w.writerows(res.skipped)
    with atomic_path(report_path) as tmp:
        Path(tmp).write_text(json.dumps(report(res), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    with atomic_path(manifest_path) as tmp:
        Path(tmp).write_text(json.dumps(manifest(res, cfg, seed), indent=1) + "\n", encoding="utf-8")


def read_files(path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
