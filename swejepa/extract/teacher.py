"""The teacher as extraction sees it: model, grid layers and the frame of its windows
(special tokens around each window, pad id, window width W and capacity ``cap``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..layout import Layout
from ..settings import ExtractSettings, TeacherSpec
from ..teachers.registry import layer_indices, load_teacher


def special_layout(tokenizer) -> tuple[list[int], list[int]]:
    """Special tokens the teacher expects around a sequence (BERT: [CLS] ... [SEP]; Qwen: none)."""
    probe = "x = 1"
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for k in range(len(full) - len(bare) + 1):
        if full[k:k + len(bare)] == bare:
            return list(full[:k]), list(full[k + len(bare):])
    return [], []


def pad_id_of(tokenizer) -> int:
    for cand in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if cand is not None:
            return int(cand)
    return 0


@dataclass(frozen=True)
class Teacher:
    """A loaded teacher and the frame of its windows."""
    model: object
    tokenizer: object
    info: dict                     # load_teacher's info (n_layers, hidden_size, is_causal, ...)
    load_dtype: str                # dtype of the weights
    layer_index: dict[str, int]    # grid layer name -> hidden-state index
    prefix: list[int]              # special tokens before / after every window
    suffix: list[int]
    pad_id: int
    window: int                    # W: tokens per window, specials included

    @property
    def n_layers(self) -> int:
        return self.info["n_layers"]

    @property
    def hidden_size(self) -> int:
        return self.info["hidden_size"]

    @property
    def causal(self) -> bool:
        return bool(self.info["is_causal"])

    @property
    def grid(self) -> list[int]:
        """The distinct hidden-state indices of the grid layers, increasing."""
        return sorted(set(self.layer_index.values()))

    @property
    def cap(self) -> int:
        """Corpus tokens per window (W minus the special tokens)."""
        return self.window - len(self.prefix) - len(self.suffix)

    @property
    def backend(self):
        """The fast (``tokenizers``) tokenizer: ids and character offsets of a text."""
        return self.tokenizer.backend_tokenizer

    def frame(self, ids: list[int]) -> list[int]:
        """A window's row: the special tokens around ``ids``."""
        return self.prefix + ids + self.suffix

    def tokenizer_description(self) -> dict:
        tok = self.tokenizer
        return {"class": type(tok).__name__, "name_or_path": str(getattr(tok, "name_or_path", "")),
                "vocab_size": len(tok), "pad_id": self.pad_id, "prefix_special": self.prefix,
                "suffix_special": self.suffix}


def load(spec: TeacherSpec, layout: Layout | str, index: int | None, device: str, settings: ExtractSettings,
         layers) -> Teacher:
    """Load ``spec`` on ``device``. Weights in the entry's dtype (cluster: bfloat16 for the
    Qwen models), else fp32 (bf16 autocast is decided later, :mod:`.precision`)."""
    load_dtype = spec.dtype if spec.dtype != "auto" else "float32"
    model, tok, info = load_teacher(spec, layout, index, device=device, dtype=load_dtype)
    pre, suf = special_layout(tok)
    maxpos = info["max_positions"] or settings.window
    return Teacher(model=model, tokenizer=tok, info=info, load_dtype=load_dtype,
                   layer_index=layer_indices(info["n_layers"], layers), prefix=pre, suffix=suf,
                   pad_id=pad_id_of(tok), window=int(min(settings.window, maxpos)))
