"""Benchmarks: each module measures one thing, prints a table and writes JSON under bench/results/.

Figures are per CPU core: run as ``python -m bench[.NAME]``, importing this package (which Python does first)
tells the numerical libraries to use one thread, before numpy is imported, and pins the process to one core.
Imported any other way (the tests import ``bench.live_daemon`` and ``bench.ray_cluster``), it changes nothing,
so a test run and the servers it starts keep every core.
"""

import os
import sys

# While ``python -m`` locates its module, sys.argv[0] is "-m" (Python's documentation of -m): a benchmark run.
if sys.argv[:1] == ["-m"]:
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[_variable] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
