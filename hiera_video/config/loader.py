"""Build a run's configuration: defaults <- YAML file (with ``_BASE_``) <- overrides.

YAML files compose through fvcore's ``_BASE_`` key (a path relative to the file
naming it). Every key, in files and overrides alike, must exist in the defaults;
an unknown key raises :class:`ConfigKeyError` naming the closest valid key.
"""

from __future__ import annotations

import difflib
import os
from typing import Iterable, List, Optional, Sequence

from fvcore.common.config import CfgNode

from hiera_video.utils.errors import ConfigError

from .checks import check_config
from .defaults import get_cfg


class ConfigKeyError(ConfigError, KeyError):
    """An unknown configuration key; the message names the closest valid keys."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0])


def all_keys(cfg: CfgNode, prefix: str = "") -> List[str]:
    """Every leaf key of ``cfg`` in dotted form, e.g. ``"TRAIN.BATCH_SIZE"``."""
    keys = []
    for name, value in cfg.items():
        full = f"{prefix}{name}"
        if isinstance(value, CfgNode):
            keys.extend(all_keys(value, full + "."))
        else:
            keys.append(full)
    return keys


#: keys that existed once, with what replaced them (named in the error instead of a guess).
REPLACED_KEYS = {
    "TRAIN.MIXED_PRECISION": "TRAIN.PRECISION (auto | bf16 | fp16 | fp32; MIXED_PRECISION True was auto, False fp32)",
}


def _unknown_key_error(key: str, valid: Sequence[str], source: str) -> ConfigKeyError:
    if key in REPLACED_KEYS:
        return ConfigKeyError(f"config key '{key}' in {source} was replaced by {REPLACED_KEYS[key]}")
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    if not close:  # fall back to matching the last component only
        leaf = key.split(".")[-1]
        close = [k for k in valid if k.split(".")[-1] == leaf][:3]
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return ConfigKeyError(f"unknown config key '{key}' in {source}{hint}")


def _flatten(d: dict, prefix: str = "") -> Iterable[str]:
    for name, value in d.items():
        full = f"{prefix}{name}"
        if isinstance(value, dict):
            yield from _flatten(value, full + ".")
        else:
            yield full


def _check_keys(given: Iterable[str], valid: Sequence[str], source: str) -> None:
    valid_set = set(valid)
    groups = {k.rsplit(".", 1)[0] for k in valid if "." in k}
    for key in given:
        if key not in valid_set and key not in groups:
            raise _unknown_key_error(key, valid, source)


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config file (or a ``_BASE_`` it names) that does not exist."""


def _merge(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base``, dicts recursively (fvcore's ``_BASE_`` semantics)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_yaml_with_base(path: str, _chain: tuple = ()) -> dict:
    """A YAML config file as a dict, with its ``_BASE_`` chain merged underneath (a ``_BASE_`` path is relative to
    the file naming it, as in fvcore / PySlowFast).

    Raises:
        ConfigFileNotFoundError: the file or a base does not exist.
        ConfigError: not valid YAML, empty, not a mapping, or a ``_BASE_`` cycle (the chain is named).
    """
    import yaml

    real = os.path.realpath(path)
    if real in _chain:
        cycle = " -> ".join([*_chain[_chain.index(real):], real])
        raise ConfigError(f"_BASE_ cycle: {cycle}")
    if not os.path.isfile(path):
        named = f" (the _BASE_ of {_chain[-1]})" if _chain else ""
        raise ConfigFileNotFoundError(f"config file not found: {path}{named}")
    try:
        with open(path) as f:
            loaded = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    if loaded is None:
        raise ConfigError(f"{path}: the config file is empty")
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got a {type(loaded).__name__}")
    base = loaded.pop("_BASE_", None)
    if base is None:
        return loaded
    base_path = os.path.expanduser(str(base))
    if not os.path.isabs(base_path):
        base_path = os.path.join(os.path.dirname(path), base_path)
    return _merge(load_yaml_with_base(base_path, (*_chain, real)), loaded)


def load_config(cfg_file: Optional[str] = None, opts: Optional[Sequence[str]] = None) -> CfgNode:
    """Return the defaults merged with ``cfg_file`` and then ``opts``, checked (:func:`check_config`).

    Args:
        cfg_file: YAML path; may set ``_BASE_`` to inherit from another YAML file.
        opts: flat ``[KEY, VALUE, KEY, VALUE, ...]`` overrides, values parsed as YAML
            literals (``SOLVER.BASE_LR 1e-3``, ``DATA.MEAN "[0.5, 0.5, 0.5]"``).

    Raises:
        ConfigKeyError: a key in the file or the overrides is not a known key.
        ConfigFileNotFoundError: ``cfg_file`` (or a base it names) does not exist.
        ConfigError: an odd-length ``opts``, an empty or invalid file, a ``_BASE_`` cycle, a value of the wrong
            type for its key, or a value that cannot work (``check_config``); each names the key or the file.
    """
    cfg = get_cfg()
    valid = all_keys(cfg)
    if cfg_file:
        loaded = load_yaml_with_base(cfg_file)
        _check_keys(_flatten(loaded), valid, cfg_file)
        try:
            cfg.merge_from_other_cfg(CfgNode(loaded))
        except (ValueError, TypeError, AssertionError) as e:
            raise ConfigError(f"{cfg_file}: {' '.join(str(e).split())}") from None
    if opts:
        opts = list(opts)
        if len(opts) % 2:
            raise ConfigError(f"overrides must be KEY VALUE pairs, got an odd list: {opts}")
        _check_keys(opts[0::2], valid, "the command-line overrides")
        try:
            cfg.merge_from_list(opts)
        except (ValueError, TypeError, AssertionError) as e:
            raise ConfigError(f"the command-line overrides: {' '.join(str(e).split())}") from None
    check_config(cfg)
    cfg.freeze()
    return cfg
