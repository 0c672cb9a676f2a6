"""Build a run's configuration: defaults <- YAML file (with ``_BASE_``) <- overrides.

YAML files compose through fvcore's ``_BASE_`` key (a path relative to the file
naming it). Every key, in files and overrides alike, must exist in the defaults;
an unknown key raises :class:`ConfigKeyError` naming the closest valid key.
"""

from __future__ import annotations

import difflib
from typing import Iterable, List, Optional, Sequence

from fvcore.common.config import CfgNode

from .defaults import get_cfg


class ConfigKeyError(KeyError):
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


def _unknown_key_error(key: str, valid: Sequence[str], source: str) -> ConfigKeyError:
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


def load_config(cfg_file: Optional[str] = None, opts: Optional[Sequence[str]] = None) -> CfgNode:
    """Return the defaults merged with ``cfg_file`` and then ``opts``.

    Args:
        cfg_file: YAML path; may set ``_BASE_`` to inherit from another YAML file.
        opts: flat ``[KEY, VALUE, KEY, VALUE, ...]`` overrides, values parsed as YAML
            literals (``SOLVER.BASE_LR 1e-3``, ``DATA.MEAN "[0.5, 0.5, 0.5]"``).

    Raises:
        ConfigKeyError: a key in the file or the overrides is not a known key.
        ValueError: ``opts`` has an odd length.
        FileNotFoundError: ``cfg_file`` (or a base it names) does not exist.
    """
    cfg = get_cfg()
    valid = all_keys(cfg)
    if cfg_file:
        loaded = CfgNode.load_yaml_with_base(cfg_file, allow_unsafe=False)
        _check_keys(_flatten(loaded), valid, cfg_file)
        cfg.merge_from_other_cfg(CfgNode(loaded))
    if opts:
        opts = list(opts)
        if len(opts) % 2:
            raise ValueError(f"overrides must be KEY VALUE pairs, got an odd list: {opts}")
        _check_keys(opts[0::2], valid, "the command-line overrides")
        cfg.merge_from_list(opts)
    cfg.freeze()
    return cfg
