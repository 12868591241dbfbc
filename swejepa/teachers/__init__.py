"""Teachers: registry/loading, BPE tokenizer, FIM examples, tiny Qwen2 Stage-1 training."""

from .registry import (LAYER_NAMES, TeacherUnavailable, layer_indices, load_from_dir,  # noqa: F401
                       load_teacher, load_tokenizer, package_model_dir, resolve_source)


def train_tokenizer(records, spec):
    """Byte-level BPE (a :class:`~swejepa.settings.TokenizerSpec`) on the ``content`` of
    ``records`` (in order, up to ``spec.max_chars`` characters)."""
    from .tokenizer import train_bpe_tokenizer

    max_chars = spec.max_chars

    def texts():
        n = 0
        for r in records:
            c = r.get("content") or ""
            if not c:
                continue
            yield c
            n += len(c)
            if max_chars and n >= max_chars:
                return

    return train_bpe_tokenizer(texts(), vocab_size=spec.vocab_size, min_frequency=spec.min_frequency)
