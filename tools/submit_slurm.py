#!/usr/bin/env python
r"""Submit a tools/run_net.py job to SLURM with submitit (one task per GPU, torch.distributed env://).

    python tools/submit_slurm.py --nodes 2 --gpus-per-node 8 --partition learn --time 4320 \
        --cfg configs/k400/hiera_l.yaml [KEY VALUE ...]

Every SLURM task runs the same job as ``torchrun`` would start: submitit tells each task its
global rank, local rank, the number of tasks and the first node's host name, which become the
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` variables that
``init_process_group(init_method="env://")`` reads (hiera_video.engine.distributed). The config
is loaded and checked here, before anything is queued (bad keys fail at once). On preemption or
timeout the job requeues itself and continues from its newest checkpoint (``TRAIN.AUTO_RESUME``).
Logs of every task go to ``--job-dir`` (default ``OUTPUT_DIR/slurm``). ``--cluster local`` runs the
tasks as local processes (for trying the set-up without SLURM).

Needs ``pip install submitit``. Exit code 2 on a bad config or arguments.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.config import load_config  # noqa: E402
from hiera_video.engine.slurm import Job  # noqa: E402
from hiera_video.utils.cli import report_input_error  # noqa: E402
from hiera_video.utils.errors import InputError  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", required=True, help="config file (as for tools/run_net.py)")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--gpus-per-node", type=int, default=8, help="tasks (processes) per node; one GPU each")
    parser.add_argument("--cpus-per-task", type=int, default=10)
    parser.add_argument("--mem-gb", type=int, default=0, help="memory per node (GB); 0: the partition's default")
    parser.add_argument("--time", type=int, default=4320, help="time limit (minutes)")
    parser.add_argument("--partition", default=None)
    parser.add_argument("--account", default=None)
    parser.add_argument("--constraint", default=None, help="e.g. volta32gb")
    parser.add_argument("--name", default="hiera_video")
    parser.add_argument("--port", type=int, default=29500, help="rendezvous port on the first node")
    parser.add_argument("--job-dir", default=None, help="submitit logs (default: OUTPUT_DIR/slurm)")
    parser.add_argument("--cluster", default=None, choices=("slurm", "local", "debug"),
                        help="submitit cluster (default: SLURM when available)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="KEY VALUE pairs")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    overrides = [a for a in args.overrides if a != "--opts"]
    try:
        cfg = load_config(args.cfg, overrides)  # fail before queueing
    except (InputError, ValueError, FileNotFoundError) as e:
        return report_input_error(e)
    if args.gpus_per_node < 1 or args.nodes < 1:
        print("error: --nodes and --gpus-per-node must be >= 1", file=sys.stderr)
        return 2
    try:
        import submitit
    except ImportError:
        print("error: tools/submit_slurm.py needs submitit: pip install submitit", file=sys.stderr)
        return 2
    job_dir = args.job_dir or os.path.join(cfg.OUTPUT_DIR, "slurm")
    executor = submitit.AutoExecutor(folder=os.path.join(job_dir, "%j"), cluster=args.cluster)
    gpus = args.gpus_per_node if cfg.NUM_GPUS > 0 else 0
    params = dict(name=args.name, nodes=args.nodes, tasks_per_node=args.gpus_per_node, gpus_per_node=gpus,
                  cpus_per_task=args.cpus_per_task, timeout_min=args.time)
    if args.mem_gb:
        params["mem_gb"] = args.mem_gb
    slurm = {"slurm_partition": args.partition, "slurm_account": args.account, "slurm_constraint": args.constraint}
    params.update({k: v for k, v in slurm.items() if v is not None})
    executor.update_parameters(**params)
    job = executor.submit(Job(os.path.abspath(args.cfg), overrides, args.port))
    print(f"submitted job {job.job_id}: {args.nodes} node(s) x {args.gpus_per_node} task(s); logs in {job_dir}")
    if args.cluster in ("local", "debug"):
        print(f"result (task 0): {job.results()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
