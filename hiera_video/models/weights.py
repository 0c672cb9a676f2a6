"""One reader for every weights file: ours and official, PyTorch pickles and safetensors, local, URL or Hub.

``read_checkpoint(source)`` returns the whole checkpoint as a dict; ``read_weights(source)`` the flat model
state dict and what else the file says (``Weights``). Resume, fine-tuning, test and ``create_model`` all go
through them. Sources:

* a PyTorch file (``.pth`` / ``.pyth`` / ``.bin`` / anything ``torch.save`` wrote), read with
  ``torch.load(weights_only=True)``: the official ``{"model_state": sd}`` (``dl.fbaipublicfiles.com/hiera``),
  our training checkpoints ``{"model": sd, "epoch": ..., "meta": {...}}``, ``{"state_dict": sd}`` or a plain
  ``sd``; key prefixes ``module.`` (DDP) and ``_orig_mod.`` (``torch.compile``) are stripped;
* a ``.safetensors`` file (the ``safetensors`` library: no pickle at all), recognised by its header whatever
  its name;
* a folder in the Hugging Face layout that the official ``Hiera.save_pretrained`` and ours write:
  ``config.json`` (the constructor arguments) + ``model.safetensors`` (or ``pytorch_model.bin``);
* ``hf-hub:ORG/NAME[@REVISION]``: that folder from the Hugging Face Hub through ``huggingface_hub`` (its
  cache; ``HF_HUB_OFFLINE=1`` reads the cache only);
* an ``http(s)://`` URL: downloaded once into ``$TORCH_HOME/hub/checkpoints`` (``torch.hub``), then as above;
* any other iopath path (read through ``g_pathmgr``), or an already loaded dict.

Every failure is a :class:`CheckpointError` whose one-line message names the source and the reason.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Union
from urllib.parse import urlparse

import torch

from hiera_video.utils.atomic import atomic_write, atomic_write_text
from hiera_video.utils.errors import WeightsError

logger = logging.getLogger("hiera_video.models")

Source = Union[str, os.PathLike, Mapping[str, Any]]
#: constructor arguments of our MAE that the official ``MaskedAutoencoderHiera`` does not take.
EXTRA_ARGS = ("mask_ratio", "norm_pix_loss")
HF_HUB_PREFIX = "hf-hub:"
#: weight files looked for in a Hugging Face layout folder, in order.
FOLDER_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_STRIP_PREFIXES = ("module.", "_orig_mod.")
_CONTAINERS = ("model_state", "model", "state_dict")


class CheckpointError(WeightsError):
    """A weights file that cannot be read or used; the message (one line) names the file and the reason."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class CheckpointMismatchError(CheckpointError):
    """The checkpoint holds no model weights, or its keys or shapes cannot be reconciled with the model; the
    message lists them."""


@dataclass
class Weights:
    """A model state dict (CPU tensors, wrapper prefixes stripped) and what its file says besides.

    ``source``: where it came from (path, URL or ``hf-hub:`` id). ``config``: a folder's ``config.json``
    (constructor arguments) or ``{}``. ``meta``: our training checkpoints' ``meta`` (class names, data
    settings, arch) or ``{}``.
    """

    state_dict: Dict[str, torch.Tensor]
    source: str
    config: Dict[str, Any] = field(default_factory=dict)
    meta: Dict[str, Any] = field(default_factory=dict)


def is_hub_id(source: Any) -> bool:
    return isinstance(source, str) and source.startswith(HF_HUB_PREFIX)


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_folder(hub_id: str) -> str:
    """Local folder of ``hf-hub:ORG/NAME[@REVISION]``: ``huggingface_hub.snapshot_download`` of its
    ``config.json`` and weight files into the Hub cache (``HF_HUB_CACHE`` / ``HF_HOME``, read at call time);
    with ``HF_HUB_OFFLINE=1`` only the cache is read.

    Raises:
        CheckpointError: ``huggingface_hub`` is missing, or the repository is neither reachable nor cached.
    """
    repo = hub_id[len(HF_HUB_PREFIX):]
    repo, _, revision = repo.partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise CheckpointError(f"{hub_id}: expected hf-hub:ORG/NAME (e.g. hf-hub:facebook/hiera_base_16x224.mae_k400_ft_k400)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise CheckpointError(f"{hub_id}: reading from the Hub needs huggingface_hub (pip install huggingface_hub)") from None
    cache = os.environ.get("HF_HUB_CACHE") or (
        os.path.join(os.environ["HF_HOME"], "hub") if os.environ.get("HF_HOME") else None)
    offline = _env_flag("HF_HUB_OFFLINE")
    try:
        return snapshot_download(repo, revision=revision or None, cache_dir=cache, local_files_only=offline,
                                 allow_patterns=["config.json", *FOLDER_WEIGHTS])
    except Exception as e:  # huggingface_hub raises many types (offline, 404, gated, connection)
        where = "the local Hub cache (HF_HUB_OFFLINE=1)" if offline else "the Hub or its local cache"
        raise CheckpointError(f"{hub_id}: not found in {where}: {type(e).__name__}: {e}") from None


def url_file(url: str) -> str:
    """Local copy of ``url`` in ``$TORCH_HOME/hub/checkpoints`` (downloaded on first use, ``torch.hub``)."""
    name = os.path.basename(urlparse(url).path) or "checkpoint"
    path = os.path.join(torch.hub.get_dir(), "checkpoints", name)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, path, progress=True)
        except Exception as e:  # urllib / http errors of every kind
            raise CheckpointError(f"{url}: download failed: {type(e).__name__}: {e}") from None
    return path


def _is_safetensors(path: str) -> bool:
    """A safetensors file starts with an 8-byte little-endian header length and a JSON header ``{...``."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < os.path.getsize(path)


def _read_safetensors(path: str, where: str) -> Dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(f"{where}: reading .safetensors needs the safetensors package") from None
    try:
        return load_file(path, device="cpu")
    except Exception as e:  # safetensors raises SafetensorError / OSError on a damaged file
        raise CheckpointError(f"{where}: not a valid safetensors file ({type(e).__name__}: {e})") from None


def _unpickler_reason(e: Exception) -> str:
    """The useful part of torch's ``weights_only`` refusal (its advice to retry unsafely is left out)."""
    text = str(e)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text[text.index(marker) + len(marker):]
    return (text.strip().splitlines() or [type(e).__name__])[0].split(". ")[0][:160]


def _torch_load(f, where: str) -> Any:
    try:
        return torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{where}: refused: not a file of tensors and plain data that loads safely (weights_only=True): "
            f"{_unpickler_reason(e)}") from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, ValueError, OSError, KeyError, AttributeError,
            IndexError, TypeError, UnicodeDecodeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{where}: not a readable PyTorch checkpoint, truncated or damaged "
                              f"({type(e).__name__}: {first[:160]})") from None


def _read_folder(folder: str, where: str) -> Dict[str, Any]:
    config: Dict[str, Any] = {}
    config_path = os.path.join(folder, "config.json")
    if os.path.isfile(config_path):
        try:
            with open(config_path) as f:
                config = json.load(f)
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{config_path}: not valid JSON ({e})") from None
        if not isinstance(config, dict):
            raise CheckpointError(f"{config_path}: expected a JSON object of constructor arguments")
    for name in FOLDER_WEIGHTS:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            obj = _read_file(path, os.path.join(where, name))
            return {**obj, "_config": config} if isinstance(obj, dict) else obj
    present = sorted(os.listdir(folder))[:10]
    raise CheckpointError(f"{where}: a folder without {' or '.join(FOLDER_WEIGHTS)} (it holds {present}); "
                          f"expected the layout save_pretrained writes (config.json + model.safetensors)")


def _read_file(path: str, where: str) -> Any:
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{where}: empty file (0 bytes), e.g. a write that was interrupted")
    if _is_safetensors(path):
        return _read_safetensors(path, where)
    with open(path, "rb") as f:
        return _torch_load(f, where)


def read_checkpoint(source: Source) -> Dict[str, Any]:
    """The whole checkpoint at ``source`` as a dict (see the module docstring for the sources).

    Safetensors files and folders give their tensors as a flat dict (a folder's ``config.json`` under the key
    ``"_config"``); PyTorch files give what ``torch.save`` wrote (a training checkpoint keeps ``optimizer``,
    ``epoch``, ``rng``, ...).

    Raises:
        CheckpointError: missing file, empty / truncated / damaged file, unsafe pickle, a folder without
            weights, an unreachable URL or Hub id, or a file that holds no dict.
    """
    if isinstance(source, Mapping):
        return dict(source)
    where = os.fspath(source)
    if is_hub_id(where):
        obj = _read_folder(hub_folder(where), where)
    elif _is_url(where) and urlparse(where).path.endswith(".safetensors"):
        obj = _read_file(url_file(where), where)
    elif _is_url(where):  # torch.hub's cache in $TORCH_HOME/hub/checkpoints, weights_only
        try:
            obj = torch.hub.load_state_dict_from_url(where, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise CheckpointError(f"{where}: refused: not a file of tensors and plain data that loads safely "
                                  f"(weights_only=True): {_unpickler_reason(e)}") from None
        except (OSError, RuntimeError, EOFError, ValueError) as e:  # URLError is an OSError
            raise CheckpointError(f"{where}: cannot download or read ({type(e).__name__}: {str(e)[:160]})") from None
    elif os.path.isdir(where):
        obj = _read_folder(where, where)
    elif os.path.isfile(where):
        obj = _read_file(where, where)
    elif "://" in where:  # other iopath backends
        from iopath.common.file_io import g_pathmgr

        try:
            with g_pathmgr.open(where, "rb") as f:
                obj = _torch_load(f, where)
        except OSError as e:
            raise CheckpointError(f"{where}: cannot open ({e})") from None
    else:
        raise CheckpointError(f"{where}: no such file or folder")
    if not isinstance(obj, dict):
        raise CheckpointError(f"{where}: expected a dict of weights, the file holds a {type(obj).__name__}")
    return obj


def state_dict_of(obj: Mapping[str, Any], where: str = "checkpoint") -> Dict[str, torch.Tensor]:
    """The flat model state dict inside a checkpoint dict: under ``model_state`` / ``model`` / ``state_dict``
    or the dict itself; ``module.`` / ``_orig_mod.`` prefixes stripped.

    Raises:
        CheckpointError: no such state dict (the message lists the non-tensor entries).
    """
    for container in _CONTAINERS:
        if isinstance(obj.get(container), Mapping):
            obj = obj[container]
            break
    obj = {k: v for k, v in obj.items() if k != "_config"}
    non_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if non_tensors or not obj:
        raise CheckpointMismatchError(f"{where}: no state dict found (looked for 'model_state', 'model', "
                              f"'state_dict' or a flat dict of tensors); other entries: {sorted(map(str, non_tensors))[:20]}")
    state: Dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        for prefix in _STRIP_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        state[key] = value
    return state


def read_weights(source: Source) -> Weights:
    """Model weights at ``source`` (any form :func:`read_checkpoint` takes) with the file's config and meta.

    Raises:
        CheckpointError: see :func:`read_checkpoint` and :func:`state_dict_of`.
    """
    where = "in-memory checkpoint" if isinstance(source, Mapping) else os.fspath(source)
    obj = read_checkpoint(source)
    config = obj.get("_config") if isinstance(obj.get("_config"), dict) else {}
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    return Weights(state_dict_of(obj, where), where, config, meta)


def read_state_dict(source: Source) -> Dict[str, torch.Tensor]:
    """``read_weights(source).state_dict``: the flat model state dict (CPU tensors, prefixes stripped)."""
    return read_weights(source).state_dict


def save_pretrained(model: torch.nn.Module, folder: str) -> str:
    """Write ``model`` in the Hugging Face layout: ``config.json`` (``model.config``, the constructor arguments)
    and ``model.safetensors``, which the official ``hiera.Hiera.from_pretrained(folder)`` (and
    ``MaskedAutoencoderHiera.from_pretrained``) read, and ``create_model(name, checkpoint=folder)`` too.
    Arguments the official constructor does not take (our MAE's ``mask_ratio``, ``norm_pix_loss``) and the
    default ``norm_layer`` are left out of ``config.json``. Both files are written atomically. Returns ``folder``.

    Raises:
        ValueError: ``model.config`` holds a value JSON cannot store (e.g. a ``norm_layer`` callable).
    """
    from safetensors.torch import save as save_safetensors

    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.config.items() if k not in EXTRA_ARGS}
    if config.get("norm_layer") == "LayerNorm":  # both official defaults (the MAE's is a callable, not a name)
        del config["norm_layer"]
    try:
        text = json.dumps(config, indent=2, sort_keys=True)
    except TypeError as e:
        raise ValueError(f"save_pretrained: model.config cannot be written as JSON ({e})") from None
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    os.makedirs(folder, exist_ok=True)
    atomic_write(os.path.join(folder, "model.safetensors"), lambda f: f.write(save_safetensors(state)))
    atomic_write_text(os.path.join(folder, "config.json"), text + "\n")
    return folder
