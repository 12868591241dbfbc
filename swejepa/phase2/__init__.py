"""Phase 2 (Experiments 2.1 and 2.2): teacher ablation and compute allocation.

- :mod:`.budget`   — FLOPs budgets of the compute-allocation sweep (6 · params · tokens)
- :mod:`.retarget` — one forward pass of a (sweep) teacher over the student's training
                     subset: new per-token targets on the windows of the extracted file
- :mod:`.evaluate` — a student's own representations -> Phase-0 retrieval and probes
- :mod:`.run`      — the jobs (one per sweep point / checkpoint / student evaluation)
- :mod:`.report`   — CSVs -> tables, figures and macros
"""
