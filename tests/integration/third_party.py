"""Install a fixture package (tests/fixtures_pkg/<name>) into the test's environment the way pip would
leave it for the entry-point machinery: its source on sys.path and a `.dist-info` whose
entry_points.txt is the package's own pyproject.toml [project.entry-points] table. Cheaper than a
pip install into a temporary venv, and the declaration tested is the package's, not the test's."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

FIXTURE_PACKAGES = Path(__file__).resolve().parent.parent / "fixtures_pkg"


def install_fixture_package(name: str, site: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make tests/fixtures_pkg/<name> importable with its entry points; return its distribution name."""
    source = FIXTURE_PACKAGES / name
    project = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dist = project["name"].replace("-", "_")
    info = site / f"{dist}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project.get("entry-points", {})
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in points.items()) + "\n"
        for group, points in groups.items()))
    monkeypatch.syspath_prepend(str(source))
    monkeypatch.syspath_prepend(str(site))
    return project["name"]
