"""Tasks: what a batch means for the loops (see ``base`` for the protocol). Importing this package registers
``classification``, ``detection`` and ``mae``; ``build_task(cfg)`` builds the one ``cfg.TASK`` names."""

from .base import TASKS, Task, build_task, register_task
from .classification import ClassificationTask
from .detection import DetectionTask
from .mae import MAETask

__all__ = ["Task", "TASKS", "build_task", "register_task", "ClassificationTask", "DetectionTask", "MAETask"]
