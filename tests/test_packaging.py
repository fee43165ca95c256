"""A non-editable install carries the code, the shipped definitions and the models, and the CLI works from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True, capture_output=True,
    )
    return next(out.glob("synthmatch-*.whl"))


def test_wheel_holds_all_four_folders_and_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in [
        "synthmatch/cli.py",
        "synthmatch/py.typed",
        "synthmatch/daemon/__init__.py",
        "synthmatch/daemon/live_view.html",
        "synthmatch/synths/builtin.py",
        "synthmatch/synthdefs/builtin.toml",
        "synthmatch/synthdefs/nekobi.toml",
        "synthmatch/synthdefs/zynaddsubfx.toml",
        "synthmatch/training/__init__.py",
        "synthmatch/models/__init__.py",
    ]:
        assert expected in names, f"{expected} missing from {wheel.name}"
    shipped = [p for p in (ROOT / "models").glob("**/*") if p.suffix in {".onnx", ".json"}]  # relay/ folders too
    for path in shipped:
        assert f"synthmatch/models/{path.relative_to(ROOT / 'models').as_posix()}" in names


def test_installed_copy_lists_its_shipped_synths(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site), "SYNTHMATCH_DEFINITIONS": ""}
    result = subprocess.run([sys.executable, "-m", "synthmatch", "synths", "--json"], cwd=tmp_path, env=env,
                            check=True, capture_output=True, text=True)
    rows = json.loads(result.stdout)
    shipped = {r["name"]: r for r in rows if r["path"].startswith(str(site))}
    assert {"builtin", "nekobi", "zynaddsubfx"} <= set(shipped)
    assert all(r["kind"] != "invalid" for r in shipped.values())
