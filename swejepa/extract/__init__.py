"""Latent extraction: ONE forward pass of a frozen teacher over the corpus, written to HDF5.

Layers, pools and mask strategies are views of that single pass: every file is tokenised
once, cut into windows of the teacher's context, each window goes through the model once
with ``output_hidden_states``, and every region of every mask strategy is pooled (mean and
last token) at every grid layer from the window that holds it with the most context.
The layout is the README's data contract (``latents/{teacher}/shard{i}of{n}.h5``).

One concept per module, in the order :func:`extract` (``run``) uses them:

* ``inputs``    — corpus records, the shard's regions per mask, the seeded token subset;
* ``teacher``   — the loaded teacher and its window frame (special tokens, pad id, W);
* ``precision`` — bf16 autocast only where faster and faithful, and its record;
* ``windows``   — window planning (cuts at region boundaries, extra and truncated
  windows) and length buckets;
* ``blocks``    — the corpus streamed in blocks of files, each planned, forwarded into
  buffers allocated for it, and written;
* ``forward``   — the batched forward (:class:`Forward`, the seam tests inject);
* ``pooling``   — mean/last pooling of region spans from cumulative sums;
* ``bench``     — the retrieval benchmark items, in the same pass;
* ``writer``    — :class:`LatentWriter`, the owner of the HDF5 schema;
* ``report``    — root attributes, the report, ``code_version``.
"""

from .forward import Forward, to_batch  # noqa: F401
from .inputs import iter_jsonl, select_files  # noqa: F401
from .precision import Precision, forward_speedup, precision_check  # noqa: F401
from .report import code_version  # noqa: F401
from .run import Interrupted, extract  # noqa: F401
from .teacher import pad_id_of, special_layout  # noqa: F401
from .windows import Plan, length_buckets, plan_windows  # noqa: F401
from .writer import LatentWriter  # noqa: F401
