"""Byte-level BPE tokenizer for the workflow-trained teachers (``tokenizers``)."""

from __future__ import annotations

import re
from typing import Iterable

PAD = "<|pad|>"
EOS = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_SUFFIX = "<|fim_suffix|>"
FIM_MIDDLE = "<|fim_middle|>"
SPECIAL_TOKENS = [PAD, EOS, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE]


# BPE training time explodes on a single pre-token of hundreds of thousands of characters
# (a giant string literal of one letter: 600K took over 10 minutes). Such runs occur once,
# so they teach the vocabulary nothing: for training only, runs of one pre-token class
# (letters, digits, whitespace, other) are cut to this length. The longest run in the
# stdlib is 95 characters, so its training text is unchanged.
MAX_TRAIN_RUN = 1000
_LONG_RUN = re.compile(r"(?<![^\W\d_])[^\W\d_]{%d,}|(?<!\d)\d{%d,}|(?<!\s)\s{%d,}|(?<![^\s\w])(?<!_)(?:[^\s\w]|_){%d,}"
                       % ((MAX_TRAIN_RUN + 1,) * 4))
_LONG_SPACE = re.compile(r"\s{%d}" % (MAX_TRAIN_RUN + 1))


def cap_runs(text: str) -> str:
    """``text`` with every run longer than ``MAX_TRAIN_RUN`` characters of one pre-token
    class cut to that length (the same object when there is none)."""
    if len(text) <= MAX_TRAIN_RUN or (max(map(len, text.split()), default=0) <= MAX_TRAIN_RUN
                                      and not _LONG_SPACE.search(text)):
        return text
    return _LONG_RUN.sub(lambda m: m.group()[:MAX_TRAIN_RUN], text)


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int):
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
    tok.train_from_iterator(map(cap_runs, texts), trainer=trainer)
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
    """Ids of pad, eos and the three FIM sentinels.

    Pretrained tokenizers (Qwen2.5-Coder, Qwen3) carry the same sentinel names as ours
    but no ``<|pad|>``: pad falls back to the tokenizer's pad token, then to eos."""
    unk = getattr(tokenizer, "unk_token_id", None)

    def tid(tok):
        i = tokenizer.convert_tokens_to_ids(tok)
        return None if i is None or (unk is not None and i == unk) else int(i)

    ids = {name: tid(tok) for name, tok in
           (("pad", PAD), ("eos", EOS), ("prefix", FIM_PREFIX), ("suffix", FIM_SUFFIX), ("middle", FIM_MIDDLE))}
    if ids["eos"] is None and getattr(tokenizer, "eos_token_id", None) is not None:
        ids["eos"] = int(tokenizer.eos_token_id)
    if ids["pad"] is None:
        pad = getattr(tokenizer, "pad_token_id", None)
        ids["pad"] = int(pad) if pad is not None else ids["eos"]
    missing = [k for k, v in ids.items() if v is None]
    if missing:
        raise ValueError(f"tokenizer lacks FIM/special tokens: {missing}")
    return ids


def add_fim_tokens(tokenizer, model=None) -> list[str]:
    """Give a pretrained tokenizer the FIM sentinels (and an eos) it lacks, resizing the
    model's embeddings to match; returns the tokens added (none for Qwen2.5/Qwen3)."""
    unk = getattr(tokenizer, "unk_token_id", None)
    have = {t for t in (EOS, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE)
            if tokenizer.convert_tokens_to_ids(t) not in (None, unk)}
    add = [t for t in (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE) if t not in have]
    if EOS not in have and getattr(tokenizer, "eos_token_id", None) is None:
        add.append(EOS)
    if add:
        tokenizer.add_special_tokens({"additional_special_tokens": add}, replace_extra_special_tokens=False)
        if EOS in add:
            tokenizer.eos_token = EOS
    if model is not None and len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    return add
