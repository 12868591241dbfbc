"""Teachers: registry/loading, BPE tokenizer, FIM examples, tiny Qwen2 Stage-1 training."""

from .registry import (LAYER_NAMES, TeacherUnavailable, find_entry, layer_indices, load_from_dir,  # noqa: F401
                       load_teacher, load_tokenizer, model_dir_for, package_model_dir, resolve_source)


def train_tokenizer(records, vocab_size: int = 8192, max_chars: int | None = None, min_frequency: int = 2):
    """Byte-level BPE on the ``content`` of ``records`` (in order, up to ``max_chars``)."""
    from .tokenizer import train_bpe_tokenizer

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

    return train_bpe_tokenizer(texts(), vocab_size=vocab_size, min_frequency=min_frequency)
