"""Small shared helpers used by every layer (nothing here imports from the rest of the package)."""

from .atomic import atomic_write, atomic_write_text

__all__ = ["atomic_write", "atomic_write_text"]
