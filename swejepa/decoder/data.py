"""Decoder examples: masked body + its context (+ the student's latents for it).

Regions come from the teacher's per-token HDF5 groups (README data contract, read
through :func:`swejepa.student.data.load_student_data`): window ``w``, body tokens
``[pos_start, pos_start + n_tok)``, signature/docstring tokens ``[ctx_start, pos_start)``.
An example's text parts (token ids of the teacher tokenizer):

- ``prefix``: up to ``prefix_tokens`` tokens before the body (left-truncated, so the
  signature, docstring and the body's indentation, nearest the body, are kept);
- ``suffix``: up to ``suffix_tokens`` tokens after the body (the rest of the file);
- ``body``: the masked tokens, at most ``max_body_tokens`` (``complete`` when it fits
  whole; only then is EOS a target).

Sequence (fill-in-the-middle, suffix first): ``<SUF> suffix <PRE> prefix <MID> body <EOS>``.

Latents: the student's predictions for the first ``latent_slots`` body positions
(:func:`student_latents`), or, for the oracle variant, the teacher's own latents
normalised the way the student's targets are (:func:`teacher_latents`). Mask positions
(and so the body's token count) are part of the student's input in SWE-JEPA; that
holds for HumanEval too, where the canonical body is the masked region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model import special_ids


@dataclass
class DecoderExample:
    prefix: np.ndarray
    suffix: np.ndarray
    body: np.ndarray
    complete: bool
    key: str = ""


def example_from_window(window_ids, length: int, pos_start: int, n_tok: int, prefix_tokens: int,
                        suffix_tokens: int, max_body_tokens: int, key: str = "") -> DecoderExample:
    w = np.asarray(window_ids, dtype=np.int64)
    end = pos_start + n_tok
    return DecoderExample(
        prefix=w[max(0, pos_start - prefix_tokens):pos_start],
        suffix=w[end:min(int(length), end + suffix_tokens)],
        body=w[pos_start:pos_start + min(n_tok, max_body_tokens)],
        complete=n_tok <= max_body_tokens,
        key=key,
    )


def examples_from_data(data, regions, cfg) -> list[DecoderExample]:
    """One :class:`DecoderExample` per region index ``j`` of a ``StudentData``."""
    out = []
    for j in regions:
        j = int(j)
        w = int(data.window[j])
        out.append(example_from_window(data.input_ids[w], int(data.length[w]), int(data.pos_start[j]),
                                       data.n_tok(j), cfg.prefix_tokens, cfg.suffix_tokens,
                                       cfg.max_body_tokens, key=str(int(data.region_index[j]))))
    return out


def prompt_ids(ex: DecoderExample, vocab_size: int) -> list[int]:
    s = special_ids(vocab_size)
    return [s["SUF"], *ex.suffix.tolist(), s["PRE"], *ex.prefix.tolist(), s["MID"]]


def train_sequence(ex: DecoderExample, vocab_size: int):
    """(input ids, target ids, loss mask) for teacher forcing; loss on body and EOS."""
    s = special_ids(vocab_size)
    p = prompt_ids(ex, vocab_size)
    body = ex.body.tolist() + ([s["EOS"]] if ex.complete else [])
    seq = p + body
    inp, tgt = seq[:-1], seq[1:]
    m = [False] * (len(p) - 1) + [True] * len(body)
    return inp, tgt, m


def collate_train(examples, vocab_size: int, latents=None, slots: int = 0):
    """Right-padded batch: ``ids, targets, loss_mask, tok_mask [B, L]`` and, with
    ``latents`` (a list of ``[n_j, d]`` arrays), ``latents [B, slots, d]`` + ``latent_mask``."""
    seqs = [train_sequence(e, vocab_size) for e in examples]
    B, L = len(seqs), max(len(s[0]) for s in seqs)
    ids = np.zeros((B, L), np.int64)
    tg = np.zeros((B, L), np.int64)
    lm = np.zeros((B, L), bool)
    tm = np.zeros((B, L), bool)
    for i, (a, b, m) in enumerate(seqs):
        n = len(a)
        ids[i, :n], tg[i, :n], lm[i, :n], tm[i, :n] = a, b, m, True
    out = {"ids": torch.from_numpy(ids), "targets": torch.from_numpy(tg), "loss_mask": torch.from_numpy(lm),
           "tok_mask": torch.from_numpy(tm)}
    if latents is not None and slots > 0:
        out.update(pad_latents(latents, slots))
    return out


def pad_latents(latents, slots: int):
    d = int(latents[0].shape[1])
    B = len(latents)
    x = np.zeros((B, slots, d), np.float32)
    m = np.zeros((B, slots), bool)
    for i, a in enumerate(latents):
        k = min(slots, len(a))
        x[i, :k] = a[:k]
        m[i, :k] = True
    m[:, 0] = True  # a latent row is always present (zeros if the body had none)
    return {"latents": torch.from_numpy(x), "latent_mask": torch.from_numpy(m)}


def collate_prompts(examples, vocab_size: int, latents=None, slots: int = 0):
    """Left-padded generation prompts: ``ids, tok_mask [B, L]`` (+ latents)."""
    ps = [prompt_ids(e, vocab_size) for e in examples]
    B, L = len(ps), max(len(p) for p in ps)
    ids = np.zeros((B, L), np.int64)
    tm = np.zeros((B, L), bool)
    for i, p in enumerate(ps):
        ids[i, L - len(p):], tm[i, L - len(p):] = p, True
    out = {"ids": torch.from_numpy(ids), "tok_mask": torch.from_numpy(tm)}
    if latents is not None and slots > 0:
        out.update(pad_latents(latents, slots))
    return out


# --------------------------------------------------------------------------- latents

@torch.no_grad()
def student_latents(student, data, regions, scfg, slots: int, device: str = "cpu",
                    batch_size: int = 32) -> list[np.ndarray]:
    """The student's predicted latents (first ``slots`` body positions) per region."""
    from swejepa.student.data import make_batch

    student.eval()
    out = []
    regions = [int(j) for j in regions]
    for i in range(0, len(regions), batch_size):
        b = make_batch(data, regions[i:i + batch_size], scfg.max_len, min(slots, scfg.max_targets),
                       scfg.context, with_targets=False)
        b = {k: v.to(device) for k, v in b.items()}
        pred = student(b).float().cpu().numpy()
        m = b["tgt_mask"].cpu().numpy()
        out += [pred[r][m[r]] for r in range(len(pred))]
    return out


@torch.no_grad()
def student_latents_for_window(student, window_ids, pos_start: int, n_tok: int, ctx_start: int,
                               scfg, slots: int, device: str = "cpu") -> np.ndarray:
    """Student latents for a body in an arbitrary tokenised window (e.g. a HumanEval
    prompt followed by its canonical body), built exactly like training examples."""
    from swejepa.student.data import collate
    from swejepa.student.masking import make_example

    w = np.asarray(window_ids, dtype=np.int64)
    ex = make_example(w, len(w), pos_start, n_tok, ctx_start, 0, scfg.max_len,
                      min(slots, scfg.max_targets), scfg.context)
    b = {k: v.to(device) for k, v in collate([ex]).items()}
    student.eval()
    return student(b).float().cpu().numpy()[0][b["tgt_mask"].cpu().numpy()[0]]


def teacher_latents(data, regions, slots: int, target_norm: str) -> list[np.ndarray]:
    """The teacher's own per-token latents (oracle), normalised like the student's targets."""
    out = []
    for j in regions:
        j = int(j)
        a = int(data.offsets[j])
        t = data.targets[a:a + min(slots, data.n_tok(j))].astype(np.float32)
        if target_norm == "layernorm":
            t = (t - t.mean(-1, keepdims=True)) / np.sqrt(t.var(-1, keepdims=True) + 1e-5)
        out.append(t)
    return out


def random_latents(n: int, lengths, d: int, seed: int = 0) -> list[np.ndarray]:
    """Synthetic stand-ins (tests, and development before a student exists)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(k), d)).astype(np.float32) for k in lengths[:n]]
