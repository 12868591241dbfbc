"""Phase 3 (Experiment 3.1): a decoder conditioned on the student's predicted latents.

- :mod:`.model`    — causal transformer with a latent prefix (and the parameter-matched baseline)
- :mod:`.data`     — masked body + context examples, student / teacher latents
- :mod:`.train`    — teacher-forced training, perplexity and token accuracy
- :mod:`.evaluate` — sampling, HumanEval pass@k in :mod:`swejepa.sandbox`, syntax validity, FLOPs
- :mod:`.jobs`     — prepare / train_variant / evaluate as functions of paths (scripts/decoder_*.py)
- :mod:`.report`   — table, figure, macros (no torch)
"""
