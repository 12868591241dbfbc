"""Hugging Face datasets for the ``hf`` corpus source.

``corpus.path`` is either a **local** dataset — a parquet or JSON-lines file, a folder
of such files (``corpus.data_dir`` below it), or a folder written by
``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` — or a **hub id**
(``bigcode/the-stack-dedup``). A hub dataset's data files (those under
``corpus.data_dir``) are fetched into the local Hugging Face hub cache with
``huggingface_hub.snapshot_download`` (from the cache alone when ``HF_HUB_OFFLINE`` is
set, as ``hf download --repo-type dataset <id> --include '<data_dir>/*'`` leaves it) and
then read like a local folder — except when ``corpus.max_files`` caps a hub dataset that
is not in the cache and the Hub can be reached: then the data files under
``corpus.data_dir`` are listed (one metadata request) and fetched one at a time, in name
order, only until ``max_files`` records have been read (The Stack's ``data/python`` is
hundreds of files and tens of GB; ~10K files are in its first one). All data files of
that listing are read as the configured split (``corpus.hf_split``). Either way the records are read with ``datasets``
(``load_dataset(<parquet|json|arrow>, data_dir=..., split=corpus.hf_split,
streaming=True)``, or ``load_from_disk``), one at a time, without writing a cache.

:func:`availability` answers, without downloading anything, whether the configured
dataset can be read (the workflow's parse-time check, ``swejepa.preflight``): a local
path must exist; a hub id must be in the local cache, or — when ``probe`` is set and the
Hub may be reached — the Hub must say that this user may read it (a metadata request:
gated datasets whose terms were not accepted, and ids that do not exist, fail here).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")
# data file suffix -> the `datasets` packaged builder that reads it
BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".jsonl.gz": "json", ".json.gz": "json",
            ".arrow": "arrow"}
SAVE_TO_DISK_MARKERS = ("state.json", "dataset_dict.json")
SAVE_TO_DISK_FILES = {"state.json", "dataset_dict.json", "dataset_info.json"}


class DatasetUnavailable(RuntimeError):
    """The configured dataset cannot be read (the message names the config key)."""


def offline(environ: Mapping[str, str] = os.environ) -> bool:
    return any(environ.get(k, "0") not in ("", "0", "false", "False", "no")
               for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def is_local(path: str) -> bool:
    """A local dataset: it exists, or it is spelled as a path (absolute, ./, ~, or a
    data file name) rather than as ``owner/name``."""
    if Path(path).expanduser().exists():
        return True
    return path.startswith(("/", ".", "~")) or not HUB_ID.match(path) or path.lower().endswith(tuple(BUILDERS))


def _suffix(p: Path) -> str:
    name = p.name.lower()
    for s in sorted(BUILDERS, key=len, reverse=True):
        if name.endswith(s):
            return s
    return ""


def data_files(root: Path) -> list[Path]:
    """The data files (parquet, JSON lines, arrow) under ``root``, sorted (hidden
    folders such as ``.cache`` are not entered)."""
    if root.is_file():
        return [root] if _suffix(root) else []
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        # hidden folders (.cache) and save_to_disk folders (their own format) are not data files
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not is_save_to_disk(Path(dirpath) / d))
        out += [Path(dirpath) / f for f in sorted(filenames) if _suffix(Path(f)) and not f.startswith(".")
                and f not in SAVE_TO_DISK_FILES]
    return sorted(out)


def is_save_to_disk(root: Path) -> bool:
    return root.is_dir() and any((root / m).is_file() for m in SAVE_TO_DISK_MARKERS)


@dataclass
class Located:
    """Where the records of the configured dataset are."""

    kind: str                      # "local" | "hub"
    root: Path                     # the file or folder that is read
    save_to_disk: bool = False
    builder: str | None = None     # parquet | json | arrow (data files)
    files: list[str] = field(default_factory=list)
    revision: str | None = None    # hub: the snapshot's commit
    # hub, fetched lazily: `files` are paths in the repository, each downloaded when read
    lazy: bool = False
    repo_id: str | None = None

    def info(self) -> dict:
        return {"kind": self.kind, "root": str(self.root), "save_to_disk": self.save_to_disk, "builder": self.builder,
                "data_files": self.files, "revision": self.revision, "fetched_lazily": self.lazy}


def hub_cache() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return os.environ.get("HF_HUB_CACHE") or "~/.cache/huggingface/hub"


def _hub_error(cfg, exc: BaseException, *, cached_only: bool) -> str:
    from huggingface_hub import errors

    ident = f"config key 'corpus.path': Hugging Face dataset {cfg.path!r}" + (
        f" (corpus.data_dir {cfg.data_dir!r})" if cfg.data_dir else "")
    get = (f"`hf download --repo-type dataset {cfg.path}" + (f" --include '{cfg.data_dir}/*'" if cfg.data_dir else "")
           + "`")
    if getattr(cfg, "max_files", None) is not None:
        get += (f" (with corpus.max_files {cfg.max_files} only the first data files by name are read: --include "
                "may name just those)")
    if isinstance(exc, errors.GatedRepoError):
        return (f"{ident} is gated and this account has not been granted access: accept its terms on the "
                f"dataset's Hub page and log in (`hf auth login` or HF_TOKEN), then {get}.")
    if isinstance(exc, errors.RevisionNotFoundError):
        return f"{ident}: revision {cfg.revision!r} (config key 'corpus.revision') does not exist."
    if isinstance(exc, errors.RemoteEntryNotFoundError):
        return (f"{ident}: config key 'corpus.data_dir': {cfg.data_dir!r} is not a folder of the dataset on the Hub "
                f"({str(exc)[:200]}).")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return f"{ident} does not exist on the Hub (or is private and this account cannot see it)."
    if cached_only or isinstance(exc, errors.LocalEntryNotFoundError):
        how = "HF_HUB_OFFLINE is set and it" if offline() else "it"
        return (f"{ident}: {how} is not in the local Hugging Face cache ({hub_cache()}). "
                f"Download it beforehand ({get}) or set corpus.path to a local file or folder.")
    return (f"{ident}: the Hub cannot be reached ({type(exc).__name__}: {str(exc)[:200]}). Download it on a "
            f"machine with access ({get}) or set corpus.path to a local file or folder.")


def locate(cfg, *, download: bool = True) -> Located:
    """Find (hub: fetch into the cache unless offline or ``download`` is false) the
    configured dataset; :class:`DatasetUnavailable` names the key to fix."""
    path = str(cfg.path or "")
    if not path:
        raise DatasetUnavailable("config key 'corpus.path': required when corpus.source is 'hf'")
    if is_local(path):
        root = Path(path).expanduser()
        if not root.exists():
            raise DatasetUnavailable(f"config key 'corpus.path': local dataset {path!r} does not exist")
        kind = "local"
        revision = None
    else:
        try:
            from huggingface_hub import snapshot_download
        except ImportError as exc:  # pragma: no cover - a dependency of datasets
            raise DatasetUnavailable(f"config key 'corpus.path': hub dataset {path!r} needs huggingface_hub") from exc
        cached_only = offline() or not download
        patterns = [f"{cfg.data_dir.strip('/')}/**"] if cfg.data_dir else None
        if not cached_only and getattr(cfg, "max_files", None) is not None:
            try:  # in the cache already: read what is there, as offline
                snapshot_download(path, repo_type="dataset", revision=cfg.revision, allow_patterns=patterns,
                                  local_files_only=True)
            except Exception:  # noqa: BLE001 - not cached: list the Hub's files, fetch them as they are read
                return _locate_lazy(cfg)
        try:
            snap = snapshot_download(path, repo_type="dataset", revision=cfg.revision, allow_patterns=patterns,
                                     local_files_only=cached_only)
        except Exception as exc:  # noqa: BLE001 - every failure is "cannot be read", with its cause
            raise DatasetUnavailable(_hub_error(cfg, exc, cached_only=cached_only)) from None
        root, kind, revision = Path(snap), "hub", Path(snap).name
    if cfg.data_dir:
        sub = root / cfg.data_dir
        if not sub.exists():
            if kind == "hub":
                raise DatasetUnavailable(_hub_error(cfg, LookupError(cfg.data_dir), cached_only=True))
            raise DatasetUnavailable(f"config key 'corpus.data_dir': {cfg.data_dir!r} is not a folder of {path!r}")
        root = sub
    if is_save_to_disk(root):
        return Located(kind, root, save_to_disk=True, revision=revision)
    files = data_files(root)
    if not files:
        key = "corpus.data_dir" if cfg.data_dir else "corpus.path"
        raise DatasetUnavailable(f"config key '{key}': no data files (parquet, jsonl/json, arrow) and no "
                                 f"save_to_disk dataset under {str(root)!r}")
    builders = sorted({BUILDERS[_suffix(f)] for f in files})
    if len(builders) > 1:
        raise DatasetUnavailable(f"config key 'corpus.data_dir': {str(root)!r} mixes data file formats {builders}; "
                                 "point corpus.data_dir at one of them")
    return Located(kind, root, builder=builders[0], files=[str(f.relative_to(root)) if f != root else f.name
                                                           for f in files], revision=revision)


def _locate_lazy(cfg) -> Located:
    """A hub dataset's data files under ``corpus.data_dir`` as the Hub lists them (in
    name order, fetched when read: :func:`records`)."""
    from huggingface_hub import HfApi

    api = HfApi()
    data_dir = (cfg.data_dir or "").strip("/")
    try:
        sha = api.dataset_info(cfg.path, revision=cfg.revision).sha
        listed = [f.path for f in api.list_repo_tree(cfg.path, path_in_repo=data_dir or None, recursive=True,
                                                     revision=sha, repo_type="dataset")
                  if getattr(f, "size", None) is not None]
    except Exception as exc:  # noqa: BLE001 - every failure is "cannot be read", with its cause
        raise DatasetUnavailable(_hub_error(cfg, exc, cached_only=False)) from None
    files = sorted(f for f in listed if _suffix(Path(f)) and not Path(f).name.startswith(".")
                   and Path(f).name not in SAVE_TO_DISK_FILES)
    key = "corpus.data_dir" if data_dir else "corpus.path"
    if not files:
        raise DatasetUnavailable(f"config key '{key}': no data files (parquet, jsonl/json, arrow) under "
                                 f"{data_dir or '/'!r} of Hugging Face dataset {cfg.path!r}")
    builders = sorted({BUILDERS[_suffix(Path(f))] for f in files})
    if len(builders) > 1:
        raise DatasetUnavailable(f"config key '{key}': {data_dir or cfg.path!r} mixes data file formats {builders}; "
                                 "point corpus.data_dir at one of them")
    return Located("hub", Path(data_dir or "."), builder=builders[0], files=files, revision=sha, lazy=True,
                   repo_id=cfg.path)


def records(cfg, located: Located) -> Iterator[dict]:
    """The records of the configured split, one at a time (a lazily fetched hub
    dataset: each data file is downloaded when the previous one has been read)."""
    import datasets

    if located.save_to_disk:
        ds = datasets.load_from_disk(str(located.root))
        if isinstance(ds, datasets.DatasetDict):
            if cfg.hf_split not in ds:
                raise DatasetUnavailable(f"config key 'corpus.hf_split': {cfg.hf_split!r} is not a split of "
                                         f"{str(located.root)!r} (splits: {sorted(ds)})")
            ds = ds[cfg.hf_split]
        yield from ds
        return
    import tempfile

    if located.lazy:
        from huggingface_hub import hf_hub_download

        for rel in located.files:
            try:
                local = hf_hub_download(located.repo_id, rel, repo_type="dataset", revision=located.revision)
            except Exception as exc:  # noqa: BLE001
                raise DatasetUnavailable(_hub_error(cfg, exc, cached_only=False)) from None
            with tempfile.TemporaryDirectory(prefix="swejepa-hf-") as tmp:
                yield from datasets.load_dataset(located.builder, data_files={cfg.hf_split: [local]},
                                                 split=cfg.hf_split, streaming=True, cache_dir=tmp)
        return
    kw = {"data_files": [str(located.root)]} if located.root.is_file() else {"data_dir": str(located.root)}
    # streaming writes nothing but lock files; they go to a folder of our own
    with tempfile.TemporaryDirectory(prefix="swejepa-hf-") as tmp:
        try:
            ds = datasets.load_dataset(located.builder, split=cfg.hf_split, streaming=True, cache_dir=tmp, **kw)
        except ValueError as exc:
            if "split" in str(exc).lower():
                raise DatasetUnavailable(f"config key 'corpus.hf_split': {cfg.hf_split!r}: {exc}") from exc
            raise
        yield from ds


def probe_hub(cfg, timeout: float) -> str | None:
    """A metadata request to the Hub: ``None`` when this account may read the dataset,
    else why not (gated, missing, unreachable; no answer within ``timeout`` seconds).
    Downloads nothing."""
    import threading

    from huggingface_hub import HfApi

    result: list = []

    def ask():
        try:
            HfApi().auth_check(cfg.path, repo_type="dataset")
            result.append(None)
        except Exception as exc:  # noqa: BLE001
            result.append(_hub_error(cfg, exc, cached_only=False))

    t = threading.Thread(target=ask, daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        return _hub_error(cfg, TimeoutError(f"no answer from the Hub within {timeout:g} s"), cached_only=False)
    return result[0]


def availability(cfg, *, probe: bool, timeout: float = 10.0) -> tuple[str | None, str]:
    """``(problem, how)`` for an ``hf`` corpus, without downloading: ``problem`` is
    ``None`` when it can be read; ``how`` says what was checked (``local``, ``cache``,
    ``hub-probe``, ``not-checked``)."""
    path = str(cfg.path or "")
    if not path:
        return "config key 'corpus.path': required when corpus.source is 'hf'", "local"
    if is_local(path):
        try:
            locate(cfg, download=False)
            return None, "local"
        except DatasetUnavailable as exc:
            return str(exc), "local"
    try:
        locate(cfg, download=False)
        return None, "cache"
    except DatasetUnavailable as exc:
        cache_problem = str(exc)
    if offline() or not probe:
        return cache_problem, "cache"
    return probe_hub(cfg, timeout), "hub-probe"
