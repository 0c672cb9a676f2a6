"""Test-only helpers shared by several test modules (pytest puts tests/ on sys.path)."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(relpath: str):
    """Import a CLI script such as ``data_prep/kinetics.py`` as a module with a unique name."""
    name = "script_" + relpath.replace("/", "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
