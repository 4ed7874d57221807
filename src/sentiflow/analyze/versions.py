"""Model versions of the built-in analyzers: the shipped artifact and the ones `sentiflow train`
writes under `<data dir>/models/<backend>/<version>/`, with a `current` pointer file.

A version is a directory holding `model.npz` and `card.json` (version, data, seed, scores).
`build_analyzer` loads the current version when one was promoted, else the shipped one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sentiflow.errors import ConfigError
from sentiflow.settings import Settings

ARTIFACTS: Final = Path(__file__).parent / "artifacts"
_VERSION: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True, slots=True)
class ModelVersion:
    backend: str
    version: str
    path: Path
    shipped: bool
    card: dict[str, Any]


def shipped_dir(backend: str) -> Path:
    return ARTIFACTS / backend


def models_dir(settings: Settings, backend: str) -> Path:
    return settings.data_dir / "models" / backend


def read_card(path: Path) -> dict[str, Any]:
    try:
        card: dict[str, Any] = json.loads((path / "card.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"model directory {path} has no card.json; it is not a sentiflow model version"
        ) from None
    return card


def shipped(backend: str) -> ModelVersion:
    path = shipped_dir(backend)
    card = read_card(path)
    return ModelVersion(backend, str(card["version"]), path, True, card)


def versions(settings: Settings, backend: str) -> list[ModelVersion]:
    """The shipped version first, then the trained ones, oldest first."""
    found = [shipped(backend)]
    root = models_dir(settings, backend)
    if root.is_dir():
        for path in sorted(root.iterdir(), key=lambda p: p.name):
            if path.is_dir() and (path / "card.json").is_file():
                found.append(ModelVersion(backend, path.name, path, False, read_card(path)))
    return found


def current(settings: Settings, backend: str) -> ModelVersion:
    """The promoted version (`<models>/<backend>/current` names it), else the shipped one."""
    pointer = models_dir(settings, backend) / "current"
    if not pointer.is_file():
        return shipped(backend)
    name = pointer.read_text(encoding="utf-8").strip()
    if name == shipped(backend).version:
        return shipped(backend)
    path = models_dir(settings, backend) / name
    if not _VERSION.match(name) or not (path / "model.npz").is_file():
        raise ConfigError(
            f"{pointer} names version {name!r}, which has no model.npz under {path.parent}; "
            f"promote an existing version (`sentiflow train --promote`) or delete {pointer}"
        )
    return ModelVersion(backend, name, path, False, read_card(path))


def promote(settings: Settings, backend: str, version: str) -> None:
    """Make `version` the one new analyzers load; atomic, so a reader never sees half a name.
    Running analyzer pools switch to it before their next batch (analyze/reload.py). Each
    promotion is appended to `history`, which `rollback` walks back."""
    known = {v.version for v in versions(settings, backend)}
    if version not in known:
        raise ConfigError(f"no {backend} version {version!r}; known: {', '.join(sorted(known))}")
    _point(settings, backend, version)
    with (models_dir(settings, backend) / "history").open("a", encoding="utf-8") as history:
        history.write(version + "\n")


def _point(settings: Settings, backend: str, version: str) -> None:
    root = models_dir(settings, backend)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / "current.tmp"
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, root / "current")


def rollback(settings: Settings, backend: str) -> str:
    """Go back to the version promoted before the current one (the shipped one at the start
    of the history); returns the version now current."""
    path = models_dir(settings, backend) / "history"
    history = path.read_text(encoding="utf-8").split() if path.is_file() else []
    if not history:
        raise ConfigError(f"no {backend} version was promoted, so there is nothing to roll back")
    history.pop()
    previous = history[-1] if history else shipped(backend).version
    _point(settings, backend, previous)
    path.write_text("".join(v + "\n" for v in history), encoding="utf-8")
    return previous
