"""Near-duplicate files: MinHash signatures of token shingles, LSH candidates, clusters.

Exact duplicates (same bytes) are skipped by the corpus stage; this module finds files
that are *almost* the same (transformers' ``# Copied from`` modeling files, vendored
copies of a library, forks of a repository), so that no such pair straddles two
splits.

- **Shingles.** A file's text is split into identifier/number tokens on every character
  that is not ``[A-Za-z0-9_]`` (as BigCode's near-deduplication of The Stack does), and
  each run of ``corpus.near_duplicates.shingle_tokens`` consecutive tokens is one
  shingle (a file with fewer tokens is one shingle). Tokens are hashed with CRC-32 and
  shingles with a fixed polynomial, so a shingle hashes the same in every run and
  process.
- **Signatures.** ``datasketch.MinHash`` (``affine32`` scheme) with
  ``corpus.near_duplicates.num_perm`` permutations drawn from the workflow seed: the same
  corpus and seed give the same signatures, clusters and splits.
- **Clusters.** ``datasketch.MinHashLSH`` at the threshold
  ``corpus.near_duplicates.jaccard`` proposes candidate pairs; a pair whose estimated
  Jaccard similarity (the share of equal signature values) is at least the threshold is
  an edge, and a cluster is a connected component of at least two files. Cluster ids
  are dense from 0 in the order of their first file; a cluster's representative is its
  first file (lowest ``file_id``, i.e. path order).

:func:`find_clusters` returns the clusters (indices into the texts); :func:`cluster_rows`
the rows of ``near_duplicates.csv`` (one per member).
"""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .settings import NearDupSettings

TOKEN = re.compile(r"[A-Za-z_0-9]+")
# 64-bit odd multiplier of the shingle polynomial (any fixed odd constant works; this one
# is the golden-ratio constant used by splitmix64)
_MULT = np.uint64(0x9E3779B97F4A7C15)
SCHEME = "affine32"

CSV_COLUMNS = ("cluster_id", "cluster_size", "n_packages", "file_id", "path", "package", "split",
               "representative", "jaccard")


@dataclass
class Clusters:
    """Near-duplicate clusters over a list of files (indices into that list)."""

    members: list[list[int]] = field(default_factory=list)       # each sorted; clusters in order of first member
    jaccard: list[list[float]] = field(default_factory=list)     # estimated Jaccard to the representative
    n_hashed: int = 0           # files with at least one token
    n_candidate_pairs: int = 0  # LSH candidates checked
    n_edges: int = 0            # pairs at or above the threshold
    seconds: float = 0.0

    def cluster_of(self) -> dict[int, int]:
        return {i: c for c, ms in enumerate(self.members) for i in ms}


def shingle_hashes(text: str, k: int, cache: dict | None = None) -> np.ndarray:
    """The sorted unique 32-bit hashes of the k-token shingles of ``text`` (empty
    array when it has no token)."""
    cache = {} if cache is None else cache
    toks = TOKEN.findall(text)
    if not toks:
        return np.zeros(0, dtype=np.uint32)
    for t in set(toks).difference(cache):
        cache[t] = zlib.crc32(t.encode("utf-8", "surrogatepass")) + 1
    arr = np.fromiter(map(cache.__getitem__, toks), dtype=np.uint64, count=len(toks))
    k = min(k, len(arr))
    n = len(arr) - k + 1
    acc = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            acc = acc * _MULT + arr[j:j + n]
        acc ^= acc >> np.uint64(31)
        acc *= _MULT
    return np.unique((acc >> np.uint64(32)).astype(np.uint32))


def signatures(texts: Sequence[str], settings: NearDupSettings, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(sig, hashed)``: the MinHash signature of every text (``[n, num_perm]``
    uint32; rows of texts without tokens are unused) and which texts have tokens."""
    from datasketch import MinHash

    template = MinHash(num_perm=settings.num_perm, seed=seed, scheme=SCHEME)
    sig = np.empty((len(texts), settings.num_perm), dtype=np.uint32)
    hashed = np.zeros(len(texts), dtype=bool)
    cache: dict[str, int] = {}
    for i, text in enumerate(texts):
        sh = shingle_hashes(text, settings.shingle_tokens, cache)
        if not len(sh):
            continue
        m = MinHash(num_perm=settings.num_perm, seed=seed, hashfunc=int, permutations=template.permutations,
                    scheme=SCHEME)
        m.update_batch(sh.tolist())
        sig[i] = m.hashvalues
        hashed[i] = True
    return sig, hashed


def find_clusters(texts: Sequence[str], settings: NearDupSettings, seed: int) -> Clusters:
    """Cluster near-duplicate texts (see the module doc)."""
    from datasketch import LeanMinHash, MinHashLSH

    t0 = time.perf_counter()
    sig, hashed = signatures(texts, settings, seed)
    idx = np.flatnonzero(hashed)
    out = Clusters(n_hashed=int(len(idx)))
    lsh = MinHashLSH(threshold=settings.jaccard, num_perm=settings.num_perm)
    sketches = {}
    with lsh.insertion_session() as session:
        for i in idx:
            i = int(i)
            sketches[i] = LeanMinHash(seed=seed, hashvalues=sig[i], scheme=SCHEME)
            session.insert(i, sketches[i], check_duplication=False)
    parent = list(range(len(texts)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i in idx:
        i = int(i)
        cands = np.array(sorted(j for j in lsh.query(sketches[i]) if j > i), dtype=np.int64)
        if not len(cands):
            continue
        out.n_candidate_pairs += len(cands)
        jac = (sig[cands] == sig[i]).mean(axis=1)
        for j in cands[jac >= settings.jaccard]:
            out.n_edges += 1
            a, b = find(i), find(int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in idx:
        groups.setdefault(find(int(i)), []).append(int(i))
    for root in sorted(groups):
        ms = groups[root]
        if len(ms) < 2:
            continue
        rep = ms[0]
        out.members.append(ms)
        out.jaccard.append([float((sig[m] == sig[rep]).mean()) for m in ms])
    out.seconds = time.perf_counter() - t0
    return out


def cluster_rows(clusters: Sequence[tuple[Sequence[dict], Sequence[float]]]) -> list[dict]:
    """Rows of ``near_duplicates.csv`` (``CSV_COLUMNS``): one per member of every
    cluster — given as ``(member file records, estimated Jaccard to the first)`` — with
    the cluster's size and number of packages, the member's file and split, and the
    cluster's representative (its first file's ``file_id``). A record without a
    ``file_id`` (dropped) has -1 and split ``dropped``."""
    rows = []
    for c, (ms, js) in enumerate(clusters):
        pkgs = {f["package"] for f in ms}
        rep = ms[0].get("file_id", -1)
        for f, j in zip(ms, js):
            rows.append({"cluster_id": c, "cluster_size": len(ms), "n_packages": len(pkgs),
                         "file_id": f.get("file_id", -1), "path": f["path"], "package": f["package"],
                         "split": f.get("split", "dropped"), "representative": rep, "jaccard": round(j, 4)})
    return rows
