"""Phase-0 analyses (Experiments 0.1-0.3): differentiation statistics, retrieval of
functionally equivalent code, linear probes. Light imports only (numpy, pandas, h5py,
faiss, scikit-learn): no torch, so per-cell jobs start fast.

Reusable APIs (also used by the student evaluation, Experiment 1.2):
  - :func:`swejepa.phase0.retrieval.retrieval_metrics`
  - :func:`swejepa.phase0.retrieval.bench_metrics`
  - :func:`swejepa.phase0.probes.probe_all`
  - :func:`swejepa.phase0.stats.cosine_stats`
"""
