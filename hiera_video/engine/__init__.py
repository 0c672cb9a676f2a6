"""Training and testing: runner, tasks, loops, optimiser, checkpoints, torch.distributed glue."""
