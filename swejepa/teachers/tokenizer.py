"""Byte-level BPE tokenizer for the workflow-trained teachers (``tokenizers``)."""

from __future__ import annotations

from typing import Iterable

PAD = "<|pad|>"
EOS = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_SUFFIX = "<|fim_suffix|>"
FIM_MIDDLE = "<|fim_middle|>"
SPECIAL_TOKENS = [PAD, EOS, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE]


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 8192, min_frequency: int = 2):
    """Train a byte-level BPE (GPT-2 style pre-tokenisation, offsets kept untrimmed so
    whitespace tokens map to their characters) and wrap it as a fast HF tokenizer with
    pad/eos and the three FIM sentinels as special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=EOS,
        additional_special_tokens=[FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE],
        model_max_length=int(1e9),
        clean_up_tokenization_spaces=False,
    )
    return fast


def sentinel_ids(tokenizer) -> dict[str, int]:
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in
           (("pad", PAD), ("eos", EOS), ("prefix", FIM_PREFIX), ("suffix", FIM_SUFFIX), ("middle", FIM_MIDDLE))}
    unk = getattr(tokenizer, "unk_token_id", None)
    missing = [k for k, v in ids.items() if v is None or (unk is not None and v == unk)]
    if missing:
        raise ValueError(f"tokenizer lacks FIM/special tokens: {missing}")
    return ids
