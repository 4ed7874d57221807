"""The locked environments (`requirements/*.txt`, written by `make lock`) must still satisfy
pyproject.toml: a dependency added without re-locking would install unpinned, or not at all,
since `make` installs the lock with --require-hashes and the project with --no-deps."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.M)
DEV_EXTRAS = ("dev", "transformers", "docs")


def pins(name: str) -> dict[str, str]:
    text = (ROOT / "requirements" / name).read_text()
    return {canonicalize_name(m[1]): m[2] for m in PIN.finditer(text)}


def needed(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    build = (ROOT / "requirements" / "build.in").read_text().splitlines()
    specs = [
        *project["project"]["dependencies"],
        *project["build-system"]["requires"],
        *(line for line in build if line.strip() and not line.startswith("#")),
    ]
    for extra in extras:
        specs += project["project"]["optional-dependencies"][extra]
    return [Requirement(spec) for spec in specs]


def unmet(requirements: list[Requirement], pinned: dict[str, str]) -> list[str]:
    wrong = []
    for req in requirements:
        version = pinned.get(canonicalize_name(req.name))
        if version is None or not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{req} (locked: {version})")
    return wrong


def test_the_dev_lock_satisfies_pyproject() -> None:
    assert not unmet(needed(*DEV_EXTRAS), pins("dev.txt")), "run `make lock`"


def test_the_run_lock_satisfies_pyproject_and_agrees_with_the_dev_lock() -> None:
    run, dev = pins("run.txt"), pins("dev.txt")
    assert not unmet(needed(), run), "run `make lock`"
    assert {name: dev.get(name) for name in run} == run


def test_the_build_lock_holds_the_installer_and_agrees_with_the_dev_lock() -> None:
    build, dev = pins("build.txt"), pins("dev.txt")
    wanted = (ROOT / "requirements" / "build.in").read_text().splitlines()
    assert not unmet([Requirement(w) for w in wanted if w and not w.startswith("#")], build)
    assert {name: dev.get(name) for name in build} == build


def test_torch_is_the_cpu_build() -> None:
    assert pins("dev.txt")["torch"] == "2.13.0+cpu"
