"""Peak accelerator memory of a job, by component (bytes per GPU).

Training (``train_memory``): weights, gradients, AdamW state (two fp32 moments), the bf16
copies autocast keeps of fp32 weights, activations (all layers, or with gradient
checkpointing the fp32 layer inputs plus one recomputed layer), and the LM head's logits
with the loss's fp32 copies. Inference (``forward_memory``): weights, the hidden states
kept for extraction (every layer's output: ``output_hidden_states``), one layer's working
set, and logits where a head runs. The per-token-per-layer activation bytes are an
estimate from the tensors PyTorch saves for backward in a Qwen2-style block under bf16
autocast (SDPA attention, no materialised score matrix): ~30·d + 8·kv + 8·I bytes for a
SwiGLU block, 34·d for a 4×-GELU block (Korthikanti et al., 2022, with flash attention);
``scripts/benchmarks/bench_rehearsal.py`` measures them on CPU at the 3B shape.
"""

from __future__ import annotations

GB = 1e9


def act_bytes_per_token_layer(hidden: int, intermediate: int, kv_dim: int, gated: bool) -> float:
    if gated:
        return 30.0 * hidden + 8.0 * kv_dim + 8.0 * intermediate
    return 34.0 * hidden * max(1.0, intermediate / (4.0 * hidden))


def train_memory(*, n_params: int, n_layers: int, hidden: int, intermediate: int, kv_dim: int, gated: bool,
                 tokens: float, vocab_tokens: float = 0.0, vocab: int = 0, checkpointing: bool = False,
                 master_bytes: int = 4, autocast: bool = True, extra: dict | None = None) -> dict:
    """``tokens``: tokens per GPU per optimizer step; ``vocab_tokens``: of those, the ones
    whose logits over ``vocab`` are computed (LM training: all of them)."""
    per_tok_layer = act_bytes_per_token_layer(hidden, intermediate, kv_dim, gated)
    if checkpointing:
        act = n_layers * tokens * hidden * 4.0 + tokens * per_tok_layer
    else:
        act = n_layers * tokens * per_tok_layer
    out = {
        "weights": n_params * master_bytes,
        "gradients": n_params * master_bytes,
        "optimizer": n_params * 8.0,
        "autocast_weight_cache": n_params * 2.0 if (autocast and master_bytes == 4) else 0.0,
        "activations": act,
        # bf16 logits + the loss's fp32 upcast + saved log-softmax, then the fp32 gradient
        "logits": vocab_tokens * vocab * (2.0 + 4.0 + 4.0 + 4.0) if vocab else 0.0,
        "hidden_states": 0.0,
    }
    for k, v in (extra or {}).items():
        out[k] = out.get(k, 0.0) + v
    out["total"] = sum(v for k, v in out.items() if k != "total")
    return out


def layer_working_set_per_token(hidden: int, intermediate: int, kv_dim: int, q_dim: int, qk_norm: bool,
                                act_bytes: int = 2) -> float:
    """Peak bytes per token alive inside one decoder layer during a no-grad forward: the
    MLP's gate, up, silu(gate) and product (4·I), the RMSNorm's fp32 upcasts (3·4·d; Qwen3's
    per-head q/k norms another 3·4·q_dim), q/k/v and the attention output; flash/SDPA
    attention materialises no score matrix. Checked against a meta-device trace of the
    3B/7B/8B shapes (scripts/benchmarks/bench_rehearsal.py --stage meta)."""
    return (act_bytes * 4.0 * intermediate + 12.0 * hidden + (12.0 * q_dim if qk_norm else 0.0)
            + act_bytes * (q_dim + 2.0 * kv_dim + hidden))


def forward_memory(*, n_params: int, weight_bytes: int, n_layers: int, hidden: int, intermediate: int,
                   kv_dim: int, tokens: float, keep_hidden: bool, act_bytes: int = 2, vocab: int = 0,
                   logits_tokens: float = 0.0, kv_cache_tokens: float = 0.0, q_dim: int | None = None,
                   qk_norm: bool = False) -> dict:
    """One forward batch of ``tokens`` (padded) tokens."""
    layer_ws = tokens * layer_working_set_per_token(hidden, intermediate, kv_dim, q_dim or hidden, qk_norm, act_bytes)
    out = {
        "weights": float(n_params * weight_bytes),
        "gradients": 0.0, "optimizer": 0.0, "autocast_weight_cache": 0.0,
        "activations": layer_ws,
        "hidden_states": (n_layers + 1) * tokens * hidden * act_bytes if keep_hidden else 2 * tokens * hidden * act_bytes,
        "logits": logits_tokens * vocab * 4.0,
        "kv_cache": kv_cache_tokens * n_layers * 2 * kv_dim * act_bytes,
    }
    out["total"] = sum(v for k, v in out.items() if k != "total")
    return out


def gb(x: float) -> float:
    return float(x) / GB
