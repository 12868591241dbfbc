"""Phase 1: the SWE-JEPA student.

One concept per file (in the style of facebookresearch/jepa and nanoGPT):

- :mod:`.masking`    — which tokens the student sees and which it must predict
- :mod:`.data`       — teacher HDF5 files (data contract in README) -> batches
- :mod:`.encoder`    — context encoder (transformer over unmasked tokens only)
- :mod:`.predictor`  — mask queries + encoder output -> one latent per masked token
- :mod:`.model`      — the student (encoder + predictor), parameter and FLOP counting
- :mod:`.checkpoint` — resumable state (model, optimizer, scheduler, RNG, data order)
- :mod:`.train`      — ``train_student(cfg, data, out_dir, ...)`` (also under torchrun/DDP)
- :mod:`.evaluate`   — success check, representations, Experiment 1.2 per-checkpoint metrics
- :mod:`.report`     — tables, figures, macros; loss-vs-metric fits (no torch)
- :mod:`.jobs`       — job-level functions the scripts call
"""
