"""The job :mod:`tools/submit_slurm.py` hands to submitit: one ``run(cfg)`` per SLURM task.

submitit starts one task per GPU and tells each its global rank, local rank, the number of
tasks and the job's host names; :class:`Job` turns those into the ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` variables that
``torch.distributed.init_process_group(init_method="env://")`` reads — the same contract as
``torchrun`` (:mod:`hiera_video.engine.distributed`). On preemption or timeout submitit calls
:meth:`Job.checkpoint`, which requeues the same job; it continues from its newest checkpoint
(``TRAIN.AUTO_RESUME``). Lives in the package (not the script) so that every task can unpickle it.

Source: the submitit set-up follows the pattern of Meta's MAE / DINO ``submitit_*.py`` scripts.
"""

from __future__ import annotations

import os

from hiera_video.config import load_config

__all__ = ["Job"]


class Job:
    """The callable submitit pickles and runs in every task (and requeues via :meth:`checkpoint`).

    Args:
        cfg_path: the config file; overrides: ``KEY VALUE`` list; port: rendezvous port on the first host.

    Returns (when called): task 0's test summary ``{top1, top5, num_videos, report_path}`` or None.
    """

    def __init__(self, cfg_path: str, overrides: list, port: int):
        self.cfg_path, self.overrides, self.port = cfg_path, list(overrides), port

    def __call__(self):
        import submitit

        from hiera_video.engine.runner import run

        env = submitit.JobEnvironment()
        os.environ.update({
            "RANK": str(env.global_rank), "LOCAL_RANK": str(env.local_rank), "WORLD_SIZE": str(env.num_tasks),
            "MASTER_ADDR": env.hostnames[0], "MASTER_PORT": str(self.port),
        })
        cfg = load_config(self.cfg_path, self.overrides)
        result = run(cfg)
        report = result["test_report"]
        return {k: report[k] for k in ("top1", "top5", "num_videos", "report_path")} if report else None

    def checkpoint(self):
        """Called by submitit on preemption / timeout: requeue the same job; it auto-resumes."""
        import submitit

        return submitit.helpers.DelayedSubmission(Job(self.cfg_path, self.overrides, self.port))
