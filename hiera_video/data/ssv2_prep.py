"""Something-Something-v2 list preparation: official JSON files -> Kinetics-format lists.

:func:`prepare_ssv2` turns ``something-something-v2-{labels,train,validation}.json`` into
``{split}.csv`` lists, ``classes.json`` and ``missing.csv`` (CLI: ``data_prep/ssv2.py``).

Source: annotation format and "strip the brackets from the template" from PySlowFast
``slowfast/datasets/ssv2.py`` (re-implemented).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field

__all__ = ["SSv2PrepResult", "SSv2PrepStats", "prepare_ssv2", "read_labels", "read_split", "strip_template"]


def strip_template(template: str) -> str:
    """``"Holding [something] next to [something]"`` -> ``"Holding something next to something"``."""
    return template.replace("[", "").replace("]", "")


@dataclass
class SSv2PrepStats:
    """Per-split counts: ``annotated`` entries, clips ``found`` / ``missing``, entries whose
    template is not in the labels file (``unknown_template``, skipped)."""

    annotated: int = 0
    found: int = 0
    missing: int = 0
    unknown_template: int = 0
    unknown_examples: list[str] = field(default_factory=list)

    def line(self, split: str) -> str:
        text = f"{split}: {self.found} found, {self.missing} missing ({self.annotated} annotated)"
        if self.unknown_template:
            text += (f"; {self.unknown_template} with a template not in the labels file skipped "
                     f"(e.g. {self.unknown_examples[0]!r})")
        return text


@dataclass
class SSv2PrepResult:
    """``classes`` ({template: id}), per-split ``stats`` and the ``written`` paths."""

    classes: dict[str, int]
    stats: dict[str, SSv2PrepStats]
    written: list[str]


def _load_json(path: str, what: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e


def read_labels(path: str) -> dict[str, int]:
    """The labels file ``{template: "id"}`` as ``{template: int id}``.

    Raises:
        FileNotFoundError / ValueError: missing file, bad JSON, not an object, an id that is
            not a non-negative integer, or two templates with the same id.
    """
    raw = _load_json(path, "labels")
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: expected a non-empty JSON object {{template: id}}")
    classes: dict[str, int] = {}
    for template, value in raw.items():
        try:
            label = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: id of {template!r} is not an integer: {value!r}") from None
        if label < 0:
            raise ValueError(f"{path}: negative id {label} for {template!r}")
        classes[strip_template(str(template))] = label
    if len(set(classes.values())) != len(classes):
        raise ValueError(f"{path}: several templates share an id")
    return classes


def read_split(path: str) -> list[dict]:
    """A train/validation file: a list of objects with ``id`` and ``template``.

    Raises:
        FileNotFoundError / ValueError: missing file, bad JSON, wrong structure.
    """
    raw = _load_json(path, "annotation")
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of {{id, template, ...}} objects")
    for k, entry in enumerate(raw):
        if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
            raise ValueError(f"{path}: entry {k} lacks 'id' or 'template': {str(entry)[:200]}")
        clip_id = str(entry["id"])
        if not clip_id or "/" in clip_id or any(c.isspace() for c in clip_id):
            raise ValueError(f"{path}: entry {k} has an invalid id {entry['id']!r}")
    return raw


def prepare_ssv2(labels_path: str, split_paths: dict[str, str], videos_root: str, out_dir: str,
                 ext: str = "webm") -> SSv2PrepResult:
    """Write ``{out}/{split}.csv`` (``{id}.{ext} label``, relative to ``videos_root``),
    ``{out}/classes.json`` ({template: id}) and ``{out}/missing.csv``
    (``split,id,template,expected``) atomically.

    Clips are ``{videos_root}/{id}.{ext}``; a missing clip goes to ``missing.csv`` only;
    an entry whose bracket-stripped template is not in the labels file is skipped and counted.

    Raises:
        FileNotFoundError / ValueError: unreadable or malformed input, ``videos_root`` not a folder.
    """
    from hiera_video.utils.atomic import atomic_write_text

    if not os.path.isdir(videos_root):
        raise FileNotFoundError(f"videos folder not found: {videos_root}")
    ext = ext.lstrip(".")
    if not ext or "/" in ext:
        raise ValueError(f"invalid extension {ext!r}")
    classes = read_labels(labels_path)
    splits = {name: read_split(p) for name, p in split_paths.items()}
    stats: dict[str, SSv2PrepStats] = {}
    missing_buf = io.StringIO()
    missing_csv = csv.writer(missing_buf, lineterminator="\n")
    missing_csv.writerow(["split", "id", "template", "expected"])
    written: list[str] = []
    for name, entries in splits.items():
        st = stats[name] = SSv2PrepStats(annotated=len(entries))
        lines = []
        for entry in entries:
            clip_id, template = str(entry["id"]), strip_template(str(entry["template"]))
            label = classes.get(template)
            if label is None:
                st.unknown_template += 1
                if len(st.unknown_examples) < 3:
                    st.unknown_examples.append(template)
                continue
            rel = f"{clip_id}.{ext}"
            if os.path.isfile(os.path.join(videos_root, rel)):
                st.found += 1
                lines.append(f"{rel} {label}")
            else:
                st.missing += 1
                missing_csv.writerow([name, clip_id, template, rel])
        path = os.path.join(out_dir, f"{name}.csv")
        atomic_write_text(path, "".join(line + "\n" for line in lines))
        written.append(path)
    for name, text in (("classes.json", json.dumps(dict(sorted(classes.items(), key=lambda kv: kv[1])), indent=1) + "\n"),
                       ("missing.csv", missing_buf.getvalue())):
        atomic_write_text(os.path.join(out_dir, name), text)
        written.append(os.path.join(out_dir, name))
    return SSv2PrepResult(classes=classes, stats=stats, written=written)
