"""Student training speed: MFU = 6 · params · tokens/s ÷ the matmul rate measured in the
same run, in the dtype used (fp32 and bf16 autocast), plus a bf16-vs-fp32 loss check.

    python scripts/benchmarks/bench_student.py                 # default student, CPU
    python scripts/benchmarks/bench_student.py --size 100m     # >=100M student (GPU)
    python scripts/benchmarks/bench_student.py --steps 20 --threads 2

Synthetic latents with the default corpus' shapes (vocab 8192, teacher width 384, windows
of 512); the data pipeline (example building, collation) is included in the timing.
Prints one JSON line per dtype.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

def _default_model():
    """The default student's architecture: settings.py's defaults under config.yaml."""
    from swejepa.settings import Settings

    return Settings.load(Path(__file__).resolve().parents[2] / "config.yaml").student.model.to_dict()


SIZES = {
    # the default config.yaml student
    "default": _default_model(),
    # the default shape, narrower and wider (CPU: how MFU grows with the matmul size)
    "narrow": {**_default_model(), "d_model": 128, "pred_d_model": 64},
    "wide": {**_default_model(), "d_model": 256, "pred_d_model": 128},
    # >= 100M non-embedding parameters (GPU)
    "100m": {"d_model": 768, "n_layers": 14, "n_heads": 12, "pred_d_model": 384, "pred_layers": 4, "pred_heads": 6},
    "350m": {"d_model": 1024, "n_layers": 24, "n_heads": 16, "pred_d_model": 512, "pred_layers": 6,
             "pred_heads": 8},
}


def run(size, dtype, steps, device, batch, max_len, h5, seed=0):
    from swejepa.settings import StudentSettings
    from swejepa.student.data import load_student_data
    from swejepa.student.train import train_student

    d = load_student_data([h5], "ast", "last")
    cfg = {"max_len": max_len, "max_targets": max_len // 2, "model": SIZES[size],
           "train": {"batch_size": batch, "max_steps": steps, "eval_every": 10 ** 9, "ckpt_every": 10 ** 9,
                     "resume_every": 0, "dtype": dtype, "device": device, "warmup_steps": 2,
                     "eval_batches": 2}}
    with tempfile.TemporaryDirectory() as td:
        s = train_student(StudentSettings.from_dict(cfg), d, td, seed=seed, handle_signals=False)
        import pandas as pd

        m = pd.read_csv(Path(td) / "metrics.csv")
    m = m[m["step"] > min(3, steps // 3)]  # skip warm-up steps (allocator, first-call overheads)
    el = m["elapsed_s"].iloc[-1] - m["elapsed_s"].iloc[0]
    tokens = m["tokens"].iloc[-1] - m["tokens"].iloc[0]
    tps = tokens / max(el, 1e-9)
    return s, tps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="default", choices=sorted(SIZES))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-len", type=int, default=96)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtypes", default="fp32,bf16")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = "cuda" if (a.device == "auto" and torch.cuda.is_available()) else ("cpu" if a.device == "auto" else a.device)
    from swejepa.student.data import write_synthetic_latents

    with tempfile.TemporaryDirectory() as td:
        h5 = write_synthetic_latents(Path(td) / "shard0of1.h5", n_windows=512, width=512, vocab=8192, hidden=384,
                                     layers=("last",))
        from swejepa.teachers.train import peak_matmul_rate

        rates = {"fp32": peak_matmul_rate("float32", device), "bf16": peak_matmul_rate("bfloat16", device)}
        res = {}
        for dt in a.dtypes.split(","):
            s, tps = run(a.size, dt, a.steps, device, a.batch, a.max_len, h5)
            achieved = 6 * s["n_params"] * tps
            res[dt] = {"size": a.size, "device": device, "dtype": dt, "threads": torch.get_num_threads(),
                       "params_nonemb": s["n_params"], "params_total": s["n_params_total"],
                       "tokens_per_s": round(tps, 1), "train_flops_per_s": achieved,
                       "matmul_flops_per_s": rates[dt], "mfu": achieved / rates[dt],
                       "final_val_loss": s["final_val_loss"], "steps": s["steps"]}
            print(json.dumps(res[dt]), flush=True)
        if "fp32" in res and "bf16" in res:
            print(json.dumps({"bf16_speedup": res["bf16"]["tokens_per_s"] / res["fp32"]["tokens_per_s"],
                              "val_loss_fp32": res["fp32"]["final_val_loss"],
                              "val_loss_bf16": res["bf16"]["final_val_loss"],
                              "val_loss_rel_diff": abs(res["bf16"]["final_val_loss"] - res["fp32"]["final_val_loss"])
                              / res["fp32"]["final_val_loss"]}), flush=True)


if __name__ == "__main__":
    main()
