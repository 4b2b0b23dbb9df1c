"""The thread policy of every One4D entry point: OpenMP worker threads sleep while they wait.

torch runs its CPU kernels on an OpenMP pool whose workers, by default, spin for a while at every barrier
instead of sleeping. When another process holds one of a laptop's cores, the worker that lost its core
makes all the others spin until it is scheduled again: on a 2-core machine 20 sampling steps took 72 s
instead of 0.6 s beside one busy process. `OMP_WAIT_POLICY=PASSIVE` makes waiting workers sleep, which
costs nothing measurable when the machine is idle (`nox -s bench` measures both cases).

The OpenMP runtime reads the variable once, when torch loads it, so the policy is set when a One4D
package is imported (each package's `__init__` calls `apply_thread_policy` before anything imports torch):
every console script and library import that comes before `import torch` gets it. A value the user set
(`OMP_WAIT_POLICY=ACTIVE`, say) is kept; the number of threads is never touched (`OMP_NUM_THREADS` and
`torch.set_num_threads` work as usual). This is environment setup only: no library offers it.
"""

from __future__ import annotations

import os

WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
WAIT_POLICY = "PASSIVE"


def apply_thread_policy() -> None:
    """Set `OMP_WAIT_POLICY=PASSIVE` unless the environment names a policy already. It takes effect in this
    process if torch is not loaded yet, and in every process started from it (torchrun workers, data
    loader workers) either way."""
    os.environ.setdefault(WAIT_POLICY_VARIABLE, WAIT_POLICY)
