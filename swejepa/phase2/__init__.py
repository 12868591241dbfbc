"""Phase 2: Experiment 2.1 ("teachers", the teacher ablation) and Experiment 2.2
("compute", the compute allocation between teacher and student).

- :mod:`.budget`   — FLOPs budgets of the compute-allocation sweep (6 · params · tokens)
- :mod:`.retarget` — one forward pass of a (sweep) teacher over the student's training
                     subset: new per-token targets on the windows of the extracted file
- :mod:`.common`   — what the jobs share (records, resumable students, retargeting)
- :mod:`.teachers` — 2.1: students of other seeds, the untrained student
- :mod:`.compute`  — 2.2: sweep points, the replayed teacher run, curve students
- :mod:`.evaluate` — a student's own representations -> Phase-0 retrieval and probes
- :mod:`.report`   — CSVs -> tables, figures and macros
"""
