"""Import first in every example: one BLAS thread, unless the caller chose otherwise.

The examples' models multiply small matrices (e.g. 64 x 128) once per time step. OpenBLAS's
threads cost more than they save on those, and on a busy 2-core machine they spin against
each other: a training step was measured 15-20x slower with 2 threads. The setting must be
made before numpy is first imported; an explicit environment setting wins.
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
