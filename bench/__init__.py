"""Benchmarks: each module measures one thing, prints a table and writes JSON under bench/results/.

Figures are per CPU core: importing this package (which ``python -m bench.NAME`` does first) tells the numerical
libraries to use one thread, before numpy is imported, and pins the process to one core.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_variable] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
