"""Configuration: PySlowFast-named defaults, a loader with ``_BASE_`` and key checking, derived views."""

from .defaults import get_cfg
from .loader import ConfigKeyError, all_keys, load_config
from .views import single_view_cfg

__all__ = ["get_cfg", "load_config", "ConfigKeyError", "all_keys", "single_view_cfg"]
