"""Import first in every example: the process settings of a training script, unless the caller
chose otherwise.

- One BLAS thread. The examples' models multiply small matrices (e.g. 64 x 128) once per time
  step. OpenBLAS's threads cost more than they save on those, and on a busy 2-core machine
  they spin against each other: a training step was measured 15-20x slower with 2 threads.
  This must be set before numpy is first imported; an explicit environment setting wins.
- Freed memory kept for reuse (``minigrad.memory.keep_freed_memory``). Without it, glibc
  hands memory back and faults it in again at every step for some models: the dates
  translator (GRU) trains 20% faster with it. Setting glibc's own ``MALLOC_*`` variables or
  ``GLIBC_TUNABLES`` instead leaves the choice to them.
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

if not any(v.startswith("MALLOC_") or v == "GLIBC_TUNABLES" for v in os.environ):
    from minigrad.memory import keep_freed_memory

    keep_freed_memory()
