"""Teacher architectures for planning, from each teacher's ``config.json``.

Where a config comes from, in order: a local model directory (``hf`` teachers whose
``model`` is a directory, ``package`` teachers), the local Hugging Face cache (the
``config.json`` alone, never the weights, never the network), and the config files
shipped for planning in ``swejepa/plan/models/<org>__<name>/config.json`` (the five Qwen
teachers of ``config/cluster.yaml``; sources and licences in ``swejepa/plan/models/NOTICE.md``).
``train`` and ``random`` teachers are described by their ``arch``/``tokenizer`` settings.

Parameter counts are computed from the config (decoder-only Qwen2/Qwen3/Llama-style
and BERT-style encoders); ``tests/test_plan.py`` checks them against the models built on
PyTorch's meta device.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..settings import Settings, TeacherSpec

MODELS_DIR = Path(__file__).parent / "models"

_BIDIRECTIONAL = {"bert", "roberta", "distilbert", "xlm-roberta", "electra", "deberta", "deberta-v2", "mpnet",
                  "modernbert", "camembert", "albert"}


@dataclass(frozen=True)
class Arch:
    model_type: str
    n_layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    max_positions: int
    qkv_bias: bool
    qk_norm: bool
    causal: bool
    source: str                      # where the config came from

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def gated_mlp(self) -> bool:
        return self.model_type not in _BIDIRECTIONAL

    def layer_params(self) -> int:
        d, qd, kv, i = self.hidden, self.q_dim, self.kv_dim, self.intermediate
        if not self.gated_mlp:  # BERT: qkv + o with biases, 2 layer norms, 2-matrix MLP with biases
            return (d * qd + qd) + 2 * (d * kv + kv) + (qd * d + d) + 2 * 2 * d + (d * i + i) + (i * d + d)
        attn = d * qd + 2 * d * kv + qd * d + ((qd + 2 * kv) if self.qkv_bias else 0)
        norms = 2 * d + (2 * self.head_dim if self.qk_norm else 0)
        return attn + 3 * d * i + norms

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def n_params(self) -> int:
        """All parameters of the causal LM (embeddings, LM head unless tied) or, for an
        encoder, of the base model (word + position + 2 type embeddings, norm, pooler)."""
        body = self.n_layers * self.layer_params()
        if not self.gated_mlp:
            emb = self.embedding_params + self.max_positions * self.hidden + 2 * self.hidden + 2 * self.hidden
            return body + emb + self.hidden * self.hidden + self.hidden
        head = 0 if self.tied else self.embedding_params
        return body + self.embedding_params + head + self.hidden  # final norm

    @property
    def n_params_base(self) -> int:
        """Parameters of the base model (``AutoModel``: no LM head) used by extraction."""
        if not self.gated_mlp:
            return self.n_params
        return self.n_layers * self.layer_params() + self.embedding_params + self.hidden

    @property
    def non_embedding_params(self) -> int:
        """Parameters that do matmuls per token in the body (the 6·N·T convention)."""
        return self.n_layers * self.layer_params()

    def to_dict(self) -> dict:
        return {**asdict(self), "n_params": self.n_params, "non_embedding_params": self.non_embedding_params}


def arch_from_config(cfg: dict, source: str = "") -> Arch:
    mt = cfg.get("model_type", "")
    d = int(cfg["hidden_size"])
    heads = int(cfg["num_attention_heads"])
    hd = int(cfg.get("head_dim") or d // heads)
    return Arch(
        model_type=mt, n_layers=int(cfg["num_hidden_layers"]), hidden=d,
        intermediate=int(cfg["intermediate_size"]), heads=heads,
        kv_heads=int(cfg.get("num_key_value_heads") or heads), head_dim=hd, vocab=int(cfg["vocab_size"]),
        tied=bool(cfg.get("tie_word_embeddings", mt in _BIDIRECTIONAL)),
        max_positions=int(cfg.get("max_position_embeddings") or 0),
        qkv_bias=mt == "qwen2" or bool(cfg.get("attention_bias", False)),
        qk_norm=mt == "qwen3", causal=mt not in _BIDIRECTIONAL and not cfg.get("is_encoder_decoder", False),
        source=source)


def shipped_config_path(model_id: str) -> Path:
    return MODELS_DIR / model_id.replace("/", "__") / "config.json"


def shipped_models() -> list[str]:
    return sorted(p.parent.name.replace("__", "/", 1) for p in MODELS_DIR.glob("*/config.json"))


def _hf_cache_config(model_id: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    try:
        hit = try_to_load_from_cache(model_id, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - a malformed id is simply not cached
        return None
    return Path(hit) if isinstance(hit, str) and os.path.exists(hit) else None


def _read(path: Path, source: str) -> Arch:
    return arch_from_config(json.loads(Path(path).read_text()), source)


def teacher_arch(settings: Settings, name: str) -> Arch:
    """The architecture of teacher ``name`` (see the module docstring for the order)."""
    t = settings.teacher(name)
    if t.source in ("train", "random"):
        base = settings.teacher(t.like) if t.source == "random" else t
        return _stage1_arch(base)
    if t.source == "package":
        from ..teachers.registry import package_model_dir

        d = package_model_dir(t.model, t.path)
        return _read(d / "config.json", f"package {t.model}: {d}/config.json")
    if t.source == "hf":
        return hf_arch(t)
    raise ValueError(f"teacher {name!r}: unknown source {t.source!r}")


def hf_arch(t: TeacherSpec) -> Arch:
    mid = t.model or ""
    if Path(mid).is_dir() and (Path(mid) / "config.json").exists():
        return _read(Path(mid) / "config.json", f"local directory {mid}/config.json")
    cached = _hf_cache_config(mid, t.revision)
    if cached is not None:
        return _read(cached, f"Hugging Face cache: {cached}")
    shipped = shipped_config_path(mid)
    if shipped.exists():
        return _read(shipped, f"shipped planning config swejepa/plan/models/{shipped.parent.name}/config.json")
    raise FileNotFoundError(
        f"teacher '{t.name}' (hf '{mid}'): no config.json found — not a local directory, not in the Hugging Face "
        f"cache, and not one of the planning configs shipped in swejepa/plan/models/ ({', '.join(shipped_models())}). "
        f"Copy its config.json (a few hundred bytes, no weights) to {shipped}.")


def _stage1_arch(t: TeacherSpec) -> Arch:
    a = t.arch
    return Arch(model_type="qwen2", n_layers=a.layers, hidden=a.hidden_size, intermediate=a.intermediate_size,
                heads=a.heads, kv_heads=a.kv_heads, head_dim=a.hidden_size // a.heads,
                vocab=_stage1_vocab(t), tied=True, max_positions=a.context, qkv_bias=True, qk_norm=False,
                causal=True, source=f"settings: teachers[{t.name}].arch (Stage 1, built by the workflow)")


def _stage1_vocab(t: TeacherSpec) -> int:
    # the BPE's vocabulary includes its special tokens (pad, eos, FIM sentinels); a corpus too
    # small to reach the size yields fewer (the plan is then an upper bound)
    return int(t.tokenizer.vocab_size)
