"""Corpus collection: sources, bad-input filtering, deduplication, package splits.

Sources (``corpus.source``):

- ``stdlib``: the CPython standard library of the running interpreter (its
  ``site-packages``/``dist-packages`` directories are another source and are not walked);
- ``site-packages``: the ``.py`` files that the installed distributions of this
  environment list (``importlib.metadata``: each distribution's ``RECORD``), in the
  site directories of ``sys.path``; the package (split unit) is the distribution; the
  project itself (``corpus.exclude_distributions``) is listed as excluded;
- ``dir``: every ``*.py`` under a local directory (e.g. an unpacked sdist);
- ``jsonl``: a JSONL file of ``{"path": ..., "content": ...}`` records;
- ``hf``: a Hugging Face dataset read with ``datasets`` — a hub id (The Stack:
  ``bigcode/the-stack-smol`` with ``corpus.data_dir: data/python``) or a local parquet /
  JSON-lines file or ``save_to_disk`` folder (``swejepa/hfdata.py``); the package is the
  repository (``max_stars_repo_name``), and every file records its licences.

Every candidate is either kept or listed in ``skipped.csv`` with a reason (``REASONS``):
for ``dir``/``stdlib`` every path under the root whose name ends in ``.py`` is a
candidate, whatever it is (file, symlink, directory, FIFO, ...), so ``report.json``
reconciles with a walk of the root (``n_files + n_skipped == walk.n_py_paths``); for
``site-packages`` every distinct ``.py`` path that a distribution lists (a path listed by
two distributions is one candidate, of the first). Directories are walked without
following symlinks. Files are decoded as CPython decodes source (byte-order mark, PEP
263 coding line); ``content`` is the exact decoded text, BOM included, newlines
untranslated. Files with syntax errors are *kept* (tree-sitter recovers the error-free
subtrees) and flagged ``has_syntax_error``.

Splits are by package (top-level module; distribution; repository), so val/test hold
whole held-out packages. Near-duplicate files (``swejepa/neardup.py``: MinHash LSH over
token shingles, ``corpus.near_duplicates``) never straddle two splits: the packages that
one cluster spans are assigned together, as one unit.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
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
from .settings import CorpusSettings, NearDupSettings

TEST_DIR_NAMES = {"test", "tests", "idle_test", "unittests"}
# Directories of the stdlib root that belong to another source (installed packages).
STDLIB_PRUNE = ("site-packages", "dist-packages")

# Why a candidate is not kept (the `reason` column of skipped.csv): where the path is
# and what it is (decided by the walk, before reading), then — in path order, once
# corpus.max_files files are kept every later candidate is max_files — what its bytes are.
REASONS = {
    "excluded_distribution": "site-packages: a file of a distribution named in corpus.exclude_distributions "
                             "(the project itself)",
    "excluded_test_dir": "under a test directory (test/, tests/, idle_test/, unittests/) and "
                         "corpus.test_dirs is 'skip'",
    "missing": "site-packages: listed in a distribution's RECORD but not on disk",
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
    "near_duplicate": "corpus.near_duplicates.action is 'drop': a near-duplicate of its cluster's first file "
                      "(the detail names it and the estimated Jaccard similarity)",
}
# Reasons only some sources can produce (a dir walk never does).
SOURCE_REASONS = {"excluded_distribution": ("site-packages",), "missing": ("site-packages",)}

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
    # the split unit when it is not the path's first component (distribution, repository)
    package: str | None = None
    # further per-file fields of files.jsonl and the manifest (hf: licenses)
    extra: dict = field(default_factory=dict)


@dataclass
class CorpusResult:
    files: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    # what the walk of a dir/stdlib root (or of the site-packages distributions, or of an
    # hf dataset) saw (report.json "walk")
    walk: dict = field(default_factory=dict)
    # what the source is, for the manifest (site-packages: distributions and versions;
    # hf: dataset, files, columns)
    meta: dict = field(default_factory=dict)
    # near-duplicate clusters: the rows of near_duplicates.csv and their summary
    near_duplicate_rows: list[dict] = field(default_factory=list)
    near_duplicates: dict = field(default_factory=dict)


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


# ----------------------------------------------------------------------------- site-packages


def canonical_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def site_dirs() -> list[str]:
    """The site directories of this environment (``site-packages``/``dist-packages``
    of the interpreter or venv, the user site), in ``sys.path`` order: where installed
    distributions live (the working directory and ``PYTHONPATH`` source trees are not)."""
    import site

    known = set()
    for d in list(getattr(site, "getsitepackages", lambda: [])()) + [getattr(site, "getusersitepackages", lambda: "")()]:
        if d and os.path.isdir(d):
            known.add(os.path.realpath(d))
    out = []
    for entry in sys.path:
        real = os.path.realpath(entry or ".")
        if real in known and real not in out:
            out.append(real)
    out += sorted(known - set(out))
    return out


def _read_path(full: str, shown: str, source: str, max_bytes: int, missing: str) -> RawFile:
    """A listed path (not walked): lstat it, then read it like the walk reads a file."""
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return RawFile(shown, b"", source, ("missing", missing))
    except OSError as exc:
        return RawFile(shown, b"", source, ("unreadable", f"stat: {exc.strerror}"))
    if stat.S_ISLNK(st.st_mode):
        return RawFile(shown, b"", source, _symlink_skip(full))
    if not stat.S_ISREG(st.st_mode):
        return RawFile(shown, b"", source, ("not_a_file", _kind(st.st_mode)))
    data, skip = _read_regular(full, max_bytes)
    return RawFile(shown, data, source, skip)


def installed_distributions(dirs: list[str] | None = None) -> tuple[list, list[dict]]:
    """``(distributions, shadowed)``: the distributions found in the site directories,
    one per canonical name (the first in ``sys.path`` order, as ``import`` sees them),
    sorted by directory then name; and the later ones of the same name."""
    import importlib.metadata as md

    dirs = site_dirs() if dirs is None else dirs
    chosen, shadowed, seen = [], [], {}
    for rank, d in enumerate(dirs):
        found = []
        for dist in md.distributions(path=[d]):
            name = dist.metadata["Name"] or ""
            if not name:
                continue
            found.append((canonical_name(name), name, dist))
        for canon, name, dist in sorted(found, key=lambda t: (t[0], str(getattr(dist, "_path", "")))):
            if canon in seen:
                shadowed.append({"name": name, "version": dist.version, "location": d, "shadowed_by": seen[canon]})
                continue
            seen[canon] = d
            chosen.append((rank, d, name, dist))
    return chosen, shadowed


def iter_site_packages(test_dirs: str = CorpusSettings.test_dirs, max_bytes: int = CorpusSettings.max_file_bytes,
                       exclude: Iterable[str] = CorpusSettings.exclude_distributions, walk: dict | None = None,
                       meta: dict | None = None, dirs: list[str] | None = None) -> Iterator[RawFile]:
    """The ``.py`` files that the installed distributions list (their ``RECORD``, or
    ``SOURCES.txt`` of an egg-info), as RawFiles whose package is the distribution.
    A path listed by two distributions is yielded once, for the first (site directory
    order, then name); the others are counted in ``walk["listed_twice"]``. Distributions
    named in ``exclude`` (the project itself) yield their files as
    ``excluded_distribution``. ``meta["distributions"]`` gets name, version, location and
    number of listed ``.py`` paths of each distribution; ``walk`` what was seen."""
    dirs = site_dirs() if dirs is None else [os.path.realpath(d) for d in dirs]
    excluded = {canonical_name(e) for e in exclude}
    w = walk if walk is not None else {}
    m = meta if meta is not None else {}
    dists, shadowed = installed_distributions(dirs)
    w.update(root=dirs[0] if dirs else "", site_dirs=list(dirs), n_distributions=len(dists), n_py_listed=0,
             n_py_paths=0, n_listed_twice=0, listed_twice=[], shadowed_distributions=shadowed,
             distributions_without_file_list=[], excluded_distributions=[], n_unlisted_py=0, unlisted_py_examples=[])
    m["distributions"] = []
    owner: dict[str, str] = {}
    listed_real: set[str] = set()
    skip_tests = test_dirs == "skip"
    for rank, d, name, dist in dists:
        files = dist.files
        version = dist.version
        entry = {"name": name, "version": version, "location": d, "n_py_listed": 0}
        m["distributions"].append(entry)
        if files is None:
            w["distributions_without_file_list"].append(f"{name}=={version}")
            continue
        is_excluded = canonical_name(name) in excluded
        if is_excluded:
            w["excluded_distributions"].append(f"{name}=={version}")
        source = f"site-packages:{name}=={version}"
        base = os.path.realpath(str(dist.locate_file("")))
        for f in sorted(files, key=str):
            rel = str(f).replace(os.sep, "/")
            if not rel.endswith(".py"):
                continue
            entry["n_py_listed"] += 1
            w["n_py_listed"] += 1
            full = os.path.normpath(os.path.join(base, rel))
            listed_real.add(full)
            # the path relative to its site directory: what `import` resolves (a path that a
            # later site directory also has is shadowed by the first)
            shown = _display(os.path.normpath(rel).replace(os.sep, "/"))
            if shown in owner:
                w["n_listed_twice"] += 1
                if len(w["listed_twice"]) < 50:
                    w["listed_twice"].append(f"{shown} (listed by {name} too; a candidate of {owner[shown]})")
                continue
            owner[shown] = name
            w["n_py_paths"] += 1
            if is_excluded:
                rf = RawFile(shown, b"", source, ("excluded_distribution",
                                                  f"corpus.exclude_distributions: {name}"))
            elif skip_tests and _is_test_path(shown):
                rf = RawFile(shown, b"", source, ("excluded_test_dir", "corpus.test_dirs: skip"))
            else:
                rf = _read_path(full, shown, source, max_bytes, f"listed by {name}=={version}, not at {full}")
            rf.package = name
            yield rf
    # .py files in the site directories that no distribution lists (not candidates:
    # counted so that the report says what the source leaves out)
    for d in dirs:
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames.sort()
            for fn in sorted(filenames):
                if fn.endswith(".py"):
                    full = os.path.normpath(os.path.join(dirpath, fn))
                    if full not in listed_real:
                        w["n_unlisted_py"] += 1
                        if len(w["unlisted_py_examples"]) < 20:
                            w["unlisted_py_examples"].append(_display(os.path.relpath(full, d)))


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


def _first_column(candidates, columns) -> str | None:
    return next((c for c in candidates if c in columns), None)


def _licenses(v) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    try:
        return [str(x) for x in v]
    except TypeError:
        return [str(v)]


def iter_hf(cfg: CorpusSettings, walk: dict | None = None, meta: dict | None = None) -> Iterator[RawFile]:
    """The records of a Hugging Face dataset (``swejepa.hfdata``: a hub id or a local
    parquet/jsonl file or save_to_disk folder). Each record is a candidate with the path
    ``{repository}/{path in the repository}``, the repository as its package and its
    licences (``licenses``); the test-directory rule applies to the path in the
    repository. With ``corpus.max_files`` only the first that many records are read."""
    from . import hfdata

    cfg = as_settings(cfg)
    try:
        import datasets  # noqa: F401
    except ImportError as exc:
        raise CorpusError("config key 'corpus.source': 'hf' needs the 'datasets' package (pip install datasets)") from exc
    try:
        located = hfdata.locate(cfg)
    except hfdata.DatasetUnavailable as exc:
        raise CorpusError(str(exc)) from None
    w = walk if walk is not None else {}
    m = meta if meta is not None else {}
    cols = cfg.hf_columns
    source = f"hf:{cfg.path}" + (f"/{cfg.data_dir}" if cfg.data_dir else "")
    w.update(root=str(located.root), n_records=0, stopped_at_max_files=False)
    m["dataset"] = {"path": cfg.path, "data_dir": cfg.data_dir, "split": cfg.hf_split, "revision": cfg.revision,
                    **located.info()}
    columns = None
    licences: dict[str, int] = {}
    skip_tests = cfg.test_dirs == "skip"
    try:
        # at most corpus.max_files records are read (a lazily fetched hub dataset: no data
        # file is downloaded past the one that holds the last of them)
        recs = hfdata.records(cfg, located)
        if cfg.max_files is not None:
            recs = itertools.islice(recs, cfg.max_files)
        for i, rec in enumerate(recs):
            if cfg.max_files is not None and i + 1 == cfg.max_files:
                w["stopped_at_max_files"] = True
            if columns is None:
                columns = {"content": _first_column(cols.content, rec), "repo": _first_column(cols.repo, rec),
                           "path": _first_column(cols.path, rec), "licenses": _first_column(cols.licenses, rec)}
                m["columns"] = dict(columns)
                m["dataset"]["record_columns"] = sorted(rec)
                if columns["content"] is None:
                    raise CorpusError(f"config key 'corpus.hf_columns.content': none of {list(cols.content)} is a "
                                      f"column of {cfg.path!r} (columns: {sorted(rec)})")
            w["n_records"] += 1
            repo = str(rec.get(columns["repo"]) or "") if columns["repo"] else ""
            in_repo = str(rec.get(columns["path"]) or "") if columns["path"] else ""
            in_repo = in_repo.lstrip("/") or f"record{i:08d}.py"
            rel = _display(f"{repo}/{in_repo}" if repo else in_repo)
            lic = _licenses(rec.get(columns["licenses"])) if columns["licenses"] else []
            for x in lic:
                licences[x] = licences.get(x, 0) + 1
            if skip_tests and _is_test_path(in_repo):
                rf = RawFile(rel, b"", source, ("excluded_test_dir", "corpus.test_dirs: skip"))
            else:
                rf = _record(rel, rec.get(columns["content"]), source, "keep")
            rf.package = repo or package_of(rel)
            rf.extra = {"licenses": lic}
            yield rf
    except hfdata.DatasetUnavailable as exc:
        raise CorpusError(str(exc)) from None
    m["licenses"] = dict(sorted(licences.items(), key=lambda kv: (-kv[1], kv[0])))


def as_settings(cfg) -> CorpusSettings:
    """A :class:`CorpusSettings` (a mapping such as ``config["corpus"]`` is converted;
    its defaults come from the settings class)."""
    if isinstance(cfg, CorpusSettings):
        return cfg
    if isinstance(cfg, Mapping):
        return CorpusSettings.from_dict(dict(cfg))
    raise TypeError(f"expected CorpusSettings, got {type(cfg).__name__}")


def iter_source(cfg: CorpusSettings, walk: dict | None = None, meta: dict | None = None) -> Iterator[RawFile]:
    cfg = as_settings(cfg)
    src = cfg.source
    if src == "stdlib":
        return iter_stdlib(cfg.test_dirs, cfg.max_file_bytes, walk=walk)
    if src == "site-packages":
        return iter_site_packages(cfg.test_dirs, cfg.max_file_bytes, cfg.exclude_distributions, walk=walk, meta=meta)
    if src == "dir":
        return iter_dir(Path(cfg.path), f"dir:{cfg.path}", cfg.test_dirs, cfg.max_file_bytes, walk=walk)
    if src == "jsonl":
        return iter_jsonl(cfg.path, cfg.test_dirs)
    if src == "hf":
        return iter_hf(cfg, walk=walk, meta=meta)
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


def split_units(packages: Iterable[str], groups: Iterable[Iterable[str]] = ()) -> dict[str, str]:
    """package -> its unit's anchor: packages joined by a group (the packages that one
    near-duplicate cluster spans), transitively, form one unit; a unit is named by its
    anchor, the smallest package name (a package outside every group is its own unit)."""
    parent = {p: p for p in packages}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for g in groups:
        g = sorted(set(g))
        for other in g[1:]:
            a, b = find(g[0]), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {p: find(p) for p in parent}


def assign_splits(package_sizes: dict[str, int], val_fraction: float, test_fraction: float, seed: int,
                  groups: Iterable[Iterable[str]] = ()) -> dict[str, str]:
    """Deterministic package → split: units (a package, or the packages that
    ``groups`` join: see :func:`split_units`) in a seeded hash order of their largest
    package fill val, then test, up to their share of files; the rest is train. Without
    groups every package is its own unit."""
    anchor = split_units(package_sizes, groups)
    sizes: dict[str, int] = {}
    members: dict[str, list[str]] = {}
    for p, n in package_sizes.items():
        sizes[anchor[p]] = sizes.get(anchor[p], 0) + n
        members.setdefault(anchor[p], []).append(p)
    # a unit is ordered by its largest package (ties: the smallest name); alone: itself
    key = {u: min(ms, key=lambda p: (-package_sizes[p], p)) for u, ms in members.items()}
    order = sorted(sizes, key=lambda u: hashlib.sha256(f"{seed}:{key[u]}".encode()).hexdigest())
    total = sum(sizes.values()) or 1
    unit_split, val_n, test_n = {}, 0, 0
    for u in order:
        n = sizes[u]
        if val_n < val_fraction * total and val_n + n <= max(val_fraction * total * 1.5, 1):
            unit_split[u] = "val"
            val_n += n
        elif test_n < test_fraction * total and test_n + n <= max(test_fraction * total * 1.5, 1):
            unit_split[u] = "test"
            test_n += n
        else:
            unit_split[u] = "train"
    return {p: unit_split[anchor[p]] for p in package_sizes}


def _near_duplicates(kept: list[dict], cfg: CorpusSettings, seed: int,
                     res: CorpusResult) -> tuple[list[list[str]], list]:
    """Cluster the kept files (``corpus.near_duplicates``); with ``drop`` mark every
    member but the first of each cluster (``_drop``) and list it in ``skipped``.
    Returns the package groups that must share a split (``group``: the packages of each
    cluster that spans several) and the clusters as ``(member records, Jaccards)``."""
    nd = cfg.near_duplicates
    if nd.action == "off":
        res.near_duplicates = {"action": nd.action, "n_clusters": 0}
        return [], []
    from .neardup import find_clusters

    cl = find_clusters([f["content"] for f in kept], nd, seed)
    clusters = [([kept[m] for m in ms], js) for ms, js in zip(cl.members, cl.jaccard)]
    cross = [ms for ms in cl.members if len({kept[m]["package"] for m in ms}) > 1]
    res.near_duplicates = {
        "action": nd.action, "jaccard": nd.jaccard, "num_perm": nd.num_perm, "shingle_tokens": nd.shingle_tokens,
        "n_hashed": cl.n_hashed, "n_candidate_pairs": cl.n_candidate_pairs, "n_edges": cl.n_edges,
        "n_clusters": len(cl.members), "n_files_in_clusters": sum(len(ms) for ms in cl.members),
        "largest_cluster": max((len(ms) for ms in cl.members), default=0),
        "n_cross_package_clusters": len(cross),
        "n_files_in_cross_package_clusters": sum(len(ms) for ms in cross),
        "seconds": round(cl.seconds, 2),
    }
    if nd.action == "drop":
        for ms, js in zip(cl.members, cl.jaccard):
            rep = kept[ms[0]]
            for m, j in zip(ms[1:], js[1:]):
                f = kept[m]
                f["_drop"] = True
                res.skipped.append({"path": f["path"], "reason": "near_duplicate",
                                    "detail": f"estimated Jaccard {j:.3f} with {rep['path']} (cluster of {len(ms)})",
                                    "source": f["source"]})
        res.near_duplicates["n_dropped"] = sum(len(ms) - 1 for ms in cl.members)
        return [], clusters
    return [[kept[m]["package"] for m in ms] for ms in cross], clusters


FILE_KEYS = ("file_id", "path", "package", "split", "sha256", "n_bytes", "source", "has_syntax_error")


def build_corpus(cfg: CorpusSettings, seed: int = 0, raw: Iterable[RawFile] | None = None) -> CorpusResult:
    """Collect, filter, dedupe, cluster near-duplicates and split. ``raw`` overrides
    the configured source.

    Candidates are taken in path order; each is kept or appended to ``skipped`` with a
    reason (``REASONS``), so ``len(files) + len(skipped)`` is the number of candidates
    (for dir/stdlib: every ``*.py`` path of the walk, ``res.walk["n_py_paths"]``)."""
    cfg = as_settings(cfg)
    res = CorpusResult()
    raw = iter_source(cfg, walk=res.walk, meta=res.meta) if raw is None else raw
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
            "package": rf.package if rf.package is not None else package_of(rf.path),
            "sha256": sha,
            "n_bytes": len(rf.data),
            "source": rf.source,
            "has_syntax_error": has_syntax_error(text),
            **rf.extra,
            "content": text,
        })
    groups, clusters = _near_duplicates(kept, cfg, seed, res)
    kept = [f for f in kept if not f.get("_drop")]
    sizes: dict[str, int] = {}
    for f in kept:
        sizes[f["package"]] = sizes.get(f["package"], 0) + 1
    splits = assign_splits(sizes, cfg.val_fraction, cfg.test_fraction, seed, groups)
    res.near_duplicates["n_split_units"] = len(set(split_units(sizes, groups).values()))
    res.near_duplicates["n_packages"] = len(sizes)
    for i, f in enumerate(kept):
        f["file_id"] = i
        f["split"] = splits[f["package"]]
    extra = [k for k in kept[0] if k not in FILE_KEYS and k != "content"] if kept else []
    res.files = [{k: f[k] for k in (*FILE_KEYS, *extra, "content")} for f in kept]
    if clusters:
        from .neardup import cluster_rows

        # a member dropped by `action: drop` has no file_id (-1) and split "dropped"
        res.near_duplicate_rows = cluster_rows(clusters)
        res.near_duplicates["n_splits_straddled"] = sum(
            len({f.get("split", "dropped") for f in ms if not f.get("_drop")}) > 1 for ms, _ in clusters)
    return res


MANIFEST_KEYS = ("file_id", "path", "package", "split", "sha256", "n_bytes")


def manifest(res: CorpusResult, cfg: CorpusSettings, seed: int) -> dict:
    """Interpreter, source, seed, split sizes, held-out packages, per-file entries
    (``MANIFEST_KEYS``, plus a source's own per-file fields such as ``licenses``) and
    their digest ``manifest_sha256``; for ``site-packages`` the distributions (name,
    version, location, listed/kept/skipped counts), for ``hf`` the dataset (where it was
    read, its revision, the columns used) and the licence counts."""
    cfg = as_settings(cfg)
    extra = [k for k in (res.files[0] if res.files else {}) if k not in FILE_KEYS and k != "content"]
    entries = [{k: f[k] for k in (*MANIFEST_KEYS, *extra)} for f in res.files]
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
        **_source_meta(res),
        "manifest_sha256": digest,
        "files": entries,
    }


def _source_meta(res: CorpusResult) -> dict:
    """The source's own manifest entries (none for stdlib/dir/jsonl)."""
    out = {k: v for k, v in res.meta.items()}
    if "distributions" in out:
        kept: dict[str, int] = {}
        for f in res.files:
            kept[f["package"]] = kept.get(f["package"], 0) + 1
        skipped: dict[str, int] = {}
        for r in res.skipped:
            skipped[r["source"]] = skipped.get(r["source"], 0) + 1
        out["distributions"] = [
            {**d, "n_kept": kept.get(d["name"], 0),
             "n_skipped": skipped.get(f"site-packages:{d['name']}=={d['version']}", 0)} for d in out["distributions"]]
    return out


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
    if res.near_duplicates:
        out["near_duplicates"] = dict(res.near_duplicates)
    return out


def write_corpus(res: CorpusResult, cfg: CorpusSettings, seed: int, files_path, manifest_path, skipped_path,
                 report_path, near_duplicates_path=None) -> None:
    """Write files.jsonl, skipped.csv, report.json, manifest.json and (when a path is
    given) near_duplicates.csv, each atomically."""
    import csv

    from .neardup import CSV_COLUMNS
    from .runtime import atomic_path

    if near_duplicates_path is not None:
        with atomic_path(near_duplicates_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
            w.writeheader()
            w.writerows(res.near_duplicate_rows)

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
