"""Configuration: PySlowFast-named defaults, a loader with ``_BASE_`` and key checking, derived views."""

from .defaults import get_cfg
from .checks import check_config
from .loader import ConfigFileNotFoundError, ConfigKeyError, all_keys, load_config
from .views import single_view_cfg

__all__ = ["get_cfg", "load_config", "ConfigKeyError", "ConfigFileNotFoundError", "all_keys", "single_view_cfg",
           "check_config"]
