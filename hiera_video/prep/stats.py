"""Per-split counts and the closing summary of the ``data_prep`` list writers (Kinetics, SSv2)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class PrepStats:
    """Per-split counts of a ``data_prep`` list writer: ``annotated`` entries, clips ``found`` /
    ``missing``. Subclasses add their own counts and report them through :meth:`notes`."""

    annotated: int = 0
    found: int = 0
    missing: int = 0

    def notes(self) -> list[str]:
        """Extra clauses for :meth:`line` (none here)."""
        return []

    def line(self, split: str) -> str:
        """``"{split}: F found, M missing (A annotated)"`` followed by ``"; {note}"`` per note."""
        text = f"{split}: {self.found} found, {self.missing} missing ({self.annotated} annotated)"
        return text + "".join(f"; {note}" for note in self.notes())


def prepared_lists_summary(stats: dict, num_classes: int, out_dir: str, videos_root: str, separator: str = " ") -> str:
    """The closing lines a ``data_prep`` list writer prints: one line per split (``stats[split].line(split)``,
    which must report found / missing), where the lists and ``missing.csv`` are, and the config keys to set."""
    lines = [st.line(split) for split, st in stats.items()]
    missing = sum(st.missing for st in stats.values())
    lines.append(f"{num_classes} classes; lists in {out_dir} ({missing} missing clips listed in "
                 f"{os.path.join(out_dir, 'missing.csv')}); set DATA.PATH_TO_DATA_DIR {out_dir} "
                 f"DATA.PATH_PREFIX {os.path.abspath(videos_root)}")
    if separator != " ":
        lines.append(f"paths contain spaces: the lists are separated by {separator!r}; "
                     f"set DATA.PATH_LABEL_SEPARATOR {separator!r}")
    return "\n".join(lines)
