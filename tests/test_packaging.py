"""The distribution: one top-level name, `chamber`, and a wheel that runs by itself.

The fixed folders (controller/, drivers/, protocols/, simulator/, console/, firmware_specs/)
and the example halls install as `chamber.*` (pyproject.toml maps them). A wheel that put
`controller` or `console` into site-packages could clash with any other package there; a wheel
that missed a file would break only once installed. So the wheel is built here, read, installed
into an empty venv and run: `chamber demo --headless` from that venv, outside the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {
    "controller": "controller",
    "drivers": "drivers",
    "protocols": "protocols",
    "simulator": "simulator",
    "console": "console",
    "firmware_specs": "firmware_specs",
    "examples": "examples",
}


def _shipped_sources() -> set[str]:
    """Every tracked file of the mapped folders, as the path it must have in the wheel."""
    listed = subprocess.run(
        ["git", "ls-files", *FOLDERS], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    return {f"chamber/{FOLDERS[p.split('/', 1)[0]]}/{p.split('/', 1)[1]}" for p in listed}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("chamber-*.whl")
    return built


def test_the_wheel_holds_only_chamber_and_every_file_it_ships(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"chamber"}
    assert len(dist_info) == 1
    missing = _shipped_sources() - set(names)
    assert not missing, f"the wheel lacks {sorted(missing)}"
    with zipfile.ZipFile(wheel) as archive:
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["chamber"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_installed_wheel_runs_the_headless_demo_outside_the_tree(
    wheel: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True
    )
    # A folder of its own outside the tree, which the broker's account may enter.
    work = Path(tempfile.mkdtemp(prefix="chamber-wheel-"))
    work.chmod(0o711)
    request.addfinalizer(lambda: shutil.rmtree(work, ignore_errors=True))
    # What the wheel put where, by its own RECORD; `..` entries are the `chamber` script in bin/.
    listing = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, json;"
            "print(json.dumps(sorted({p.parts[0] for p in m.distribution('chamber').files"
            " if p.parts[0] != '..'})))",
        ],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    )
    name, version = wheel.name.split("-")[:2]
    assert json.loads(listing.stdout) == ["chamber", f"{name}-{version}.dist-info"]
    demo = subprocess.run(
        [str(env_dir / "bin" / "chamber"), "demo", "--headless", "--report", "report.json"],
        cwd=work,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}"},
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    report = json.loads((work / "report.json").read_text(encoding="utf-8"))
    assert report["match"] is True
    assert (work / "var" / "demo").is_dir()  # its data went where it ran, not into the venv
