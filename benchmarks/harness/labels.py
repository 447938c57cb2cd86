"""Row labels of ``compare``: unique without renaming any folder.

Every export of ``tokenizer-bench train`` is a folder named ``tokenizer`` inside its run folder,
so labelling a checkpoint by its folder name made two trained runs collide. The rules:

- ``name[:checkpoint]@label`` sets a row's label explicitly. The label is the text after the
  last ``@`` when that text holds no ``/``, ``\\`` or ``:`` (so a folder such as
  ``runs/exp@2/tokenizer`` stays a path).
- Otherwise a tokenizer listed once is labelled by its name. One listed with several checkpoints
  is labelled ``name (X)`` for each checkpoint, X being the shortest tail of the checkpoint path
  that tells them apart once the trailing components they all share are dropped:
  ``runs/a/tokenizer`` and ``runs/b/tokenizer`` give ``dm_codec (a)`` and ``dm_codec (b)``;
  ``runs/x/best`` and ``old/x/best`` give ``dm_codec (runs)`` and ``dm_codec (old)``; ``a/x`` and
  ``b/y/x`` give ``dm_codec (a)`` and ``dm_codec (y)``.
- Labels that would still coincide (an explicit label equal to another row's) are an error that
  shows the ``@label`` syntax.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Sequence

from tokenizer_bench.core.errors import ConfigError

_NOT_IN_LABEL = frozenset("/\\:")


def split_label(item: str) -> tuple[str, str | None]:
    """``"name:ckpt@label"`` -> ``("name:ckpt", "label")``; no explicit label -> ``(item, None)``."""
    head, sep, tail = item.rpartition("@")
    if not sep or _NOT_IN_LABEL & set(tail):
        return item, None
    label = tail.strip()
    if not label:
        raise ConfigError(f"{item!r}: empty label after '@' (expected name[:checkpoint]@label)")
    return head, label


def _parts(checkpoint: str) -> tuple[str, ...]:
    return PurePath(checkpoint).parts or (checkpoint,)


def checkpoint_labels(checkpoints: Sequence[str]) -> list[str]:
    """The shortest distinguishing tails of ``checkpoints`` (see the module docstring)."""
    parts = [_parts(c) for c in checkpoints]
    if len(parts) == 1:
        return [parts[0][-1]]
    while all(len(p) > 1 for p in parts) and len({p[-1] for p in parts}) == 1:
        parts = [p[:-1] for p in parts]
    longest = max(len(p) for p in parts)
    for depth in range(1, longest + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return labels


def row_labels(specs: Sequence, reserved: Sequence[str] = ()) -> list[str]:
    """One label per spec (``name``, ``checkpoint``, ``label`` attributes), unique or an error.

    ``reserved`` labels (the ground-truth row) may not be taken by any system.
    """
    out: list[str | None] = [s.label for s in specs]
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(specs):
        if s.label is None:
            groups.setdefault(s.name, []).append(i)
    for name, idx in groups.items():
        with_ckpt = [i for i in idx if specs[i].checkpoint]
        if len(idx) == 1 or not with_ckpt:
            for i in idx:
                out[i] = name
            continue
        for i in idx:
            if not specs[i].checkpoint:
                out[i] = name
        for i, tail in zip(with_ckpt, checkpoint_labels([specs[i].checkpoint for i in with_ckpt])):
            out[i] = f"{name} ({tail})"
    seen: dict[str, int] = {}
    for i, label in enumerate(out):
        if label in reserved:
            raise ConfigError(f"{_spec_text(specs[i])}: the row label {label!r} is reserved; choose another with "
                              "@label")
        if label in seen:
            a, b = _spec_text(specs[seen[label]]), _spec_text(specs[i])
            raise ConfigError(
                f"two systems would share the row label {label!r}: {a} and {b}; give each its own label with "
                f"name:checkpoint@label, e.g. {b.partition('@')[0]}@{_suggest(label)}"
            )
        seen[label] = i
    return [str(x) for x in out]


def _spec_text(spec) -> str:
    text = spec.name + (f":{spec.checkpoint}" if spec.checkpoint else "")
    return text + (f"@{spec.label}" if spec.label else "")


def _suggest(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in label).strip("-") + "-2"
