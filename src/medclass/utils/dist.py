"""Whether this is the first process of a multi-process (DDP) run, read from the launcher's environment.

Every process of a DDP run executes the whole command (Lightning's launcher re-runs it for the other local
ranks; torchrun and SLURM start all of them), so whatever writes the run's files asks :func:`is_global_zero`
first. It is read from the environment because it has to be known before the Trainer and its process group
exist.
"""

from __future__ import annotations

import os


def is_global_zero() -> bool:
    """True in the process that writes the run's files: global rank 0, or the only process.

    torchrun sets ``RANK``; Lightning's launcher sets ``LOCAL_RANK`` and ``NODE_RANK``; SLURM sets
    ``SLURM_PROCID`` (read last, as Lightning does: a single-task job has it too, as 0).
    """
    env = os.environ
    if "RANK" in env:
        return int(env["RANK"]) == 0
    if "LOCAL_RANK" in env:
        return int(env["LOCAL_RANK"]) == 0 and int(env.get("NODE_RANK", env.get("GROUP_RANK", "0"))) == 0
    return int(env.get("SLURM_PROCID", "0")) == 0
