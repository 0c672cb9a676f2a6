"""Configuration: PySlowFast-named defaults and a loader with ``_BASE_`` and key checking."""

from .defaults import get_cfg
from .loader import ConfigKeyError, all_keys, load_config

__all__ = ["get_cfg", "load_config", "ConfigKeyError", "all_keys"]
