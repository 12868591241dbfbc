"""Precision of the forward: bf16 autocast only where it is faster *and* faithful, decided
once per job and recorded (HDF5 attribute ``precision_check``, report).

* fidelity: cosine between fp32 and bf16-autocast hidden states at the grid layers, on a
  probe of the shard's first file (:func:`precision_check`);
* speed: a bf16 matmul against fp32 on this device (``bf16_is_faster``: CUDA always, a CPU
  only with hardware bf16); this teacher's own forward is also timed in both precisions
  (:func:`forward_speedup`) and recorded, not decided on.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import ExtractSettings
from .forward import to_batch
from .teacher import Teacher

_PROBE = "def f(x):\n    return x\n"


@dataclass(frozen=True)
class Precision:
    bf16: bool        # autocast the forward to bf16
    record: dict      # the check as recorded; ``record["used"]`` is the compute dtype

    @property
    def used(self) -> str:
        return self.record["used"]


def precision_check(model, batch: dict, layer_idx: list[int], device: str) -> dict:
    """Cosine between fp32 and bf16-autocast hidden states at the grid layers, per position."""
    import torch

    from ..teachers.train import autocast_ctx

    with torch.no_grad():
        h32 = model(**batch, output_hidden_states=True).hidden_states
        with autocast_ctx(device, True):
            h16 = model(**batch, output_hidden_states=True).hidden_states
    m = batch["attention_mask"].bool()
    out = {}
    for li in sorted(set(layer_idx)):
        a = h32[li].float()[m]
        b = h16[li].float()[m]
        cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)
        out[str(li)] = {"min": float(cos.min()), "mean": float(cos.mean())}
    out["min"] = min(v["min"] for v in out.values())
    return out


def forward_speedup(model, batch: dict, device: str, reps: int = 2) -> dict:
    """Time this teacher's own forward on ``batch`` in fp32 and under bf16 autocast (after
    one warm-up each): a bf16 matmul can be faster on the machine (AMX) while a small
    model's forward is not (cast overheads dominate narrow layers)."""
    import time

    import torch

    from ..teachers.train import autocast_ctx

    out = {}
    with torch.no_grad():
        for name, bf16 in (("fp32", False), ("bf16", True)):
            with autocast_ctx(device, bf16):
                model(**batch)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(reps):
                    model(**batch)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
            out[f"forward_{name}_s"] = (time.perf_counter() - t0) / reps
    out["forward_speedup"] = out["forward_fp32_s"] / max(1e-12, out["forward_bf16_s"])
    return out


def decide_precision(teacher: Teacher, settings: ExtractSettings, device: str, first: dict | None) -> Precision:
    """The job's precision; ``first`` is the shard's first corpus record (the probe text)."""
    from ..teachers.train import bf16_is_faster

    st, load_dtype = settings, teacher.load_dtype
    check = _fidelity(teacher, st, device, first)
    faster, rates = bf16_is_faster(device) if st.dtype == "auto" else (st.dtype == "bfloat16", {})
    if st.dtype == "auto" and faster and load_dtype == "float32" and not device.startswith("cuda"):
        # Recorded, not decided on: this teacher's own forward speed-up on full windows. A
        # decision on a timing this close to 1 (narrow models) would flip between runs on a
        # loaded machine and break byte-identical reruns; the matmul check has a wide margin.
        rates.update(_teacher_speedup(teacher, st, device, first))
    use_bf16 = load_dtype == "float32" and ((st.dtype == "bfloat16") or (
        st.dtype == "auto" and faster and check["min"] >= st.bf16_min_cosine))
    check.update({"requested": st.dtype, "bf16_faster": bool(faster), **rates,
                  "threshold": st.bf16_min_cosine,
                  "used": "bfloat16" if use_bf16 else load_dtype})
    return Precision(bf16=use_bf16, record=check)


def _fidelity(teacher: Teacher, st: ExtractSettings, device: str, first: dict | None) -> dict:
    """The fp32-vs-bf16 check on up to 48 tokens of ``first``, or why it was skipped."""
    if teacher.load_dtype != "float32":
        return {"min": float("nan"), "skipped": f"weights loaded in {teacher.load_dtype} "
                                                f"({teacher.info['name']}.dtype)"}
    if st.dtype == "float32":
        return {"min": float("nan"), "skipped": "extract.dtype is float32"}
    probe_ids = teacher.backend.encode((first or {"content": _PROBE})["content"][:2000],
                                       add_special_tokens=False).ids[:max(8, min(48, teacher.cap))]
    batch = to_batch([teacher.frame(probe_ids)], teacher.pad_id, teacher.window, device)
    return precision_check(teacher.model, batch, teacher.grid, device)


def storage_probe(teacher: Teacher, device: str, first: dict | None, bf16: bool) -> dict:
    """max |h| per grid layer (layer name -> float) of a forward in the job's compute dtype
    over up to 512 tokens of ``first`` (the shard's first record): what
    :func:`swejepa.storage.storage_dtype` decides on. Massive activations sit on the first
    tokens, so a short probe sees them; a larger value later fails the write rather than
    store inf (:func:`swejepa.storage.cast_for_storage`)."""
    import torch

    from ..teachers.train import autocast_ctx

    ids = teacher.backend.encode((first or {"content": _PROBE})["content"][:8000],
                                 add_special_tokens=False).ids[:max(8, min(512, teacher.cap))]
    batch = to_batch([teacher.frame(ids)], teacher.pad_id, teacher.window, device)
    m = batch["attention_mask"].bool()
    with torch.no_grad(), autocast_ctx(device, bf16):
        hs = teacher.model(**batch, output_hidden_states=True).hidden_states
    return {ln: float(hs[li].float()[m].abs().max()) for ln, li in teacher.layer_index.items()}


def _teacher_speedup(teacher: Teacher, st: ExtractSettings, device: str, first: dict | None) -> dict:
    """:func:`forward_speedup` on a batch of full windows (``first`` repeated to fill them)."""
    cap = teacher.cap
    long_ids = teacher.backend.encode((first or {"content": _PROBE * 200})["content"],
                                      add_special_tokens=False).ids
    row = teacher.frame((long_ids * (1 + cap // max(1, len(long_ids))))[:cap])
    k = max(1, min(8, int(st.batch_tokens) // max(1, len(row))))
    return forward_speedup(teacher.model, to_batch([row] * k, teacher.pad_id, teacher.window, device), device)
