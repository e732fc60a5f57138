"""The built wheel and sdist ship the package, its typing marker and its licence, and
nothing of the tests."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

# Only in CI's Django 5.2 leg: it builds the wheel and the sdist, the same on every Django line.
pytestmark = pytest.mark.django_independent

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_py_typed_and_no_tests(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("django_prometheus-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "django_prometheus/py.typed" in names
    assert "django_prometheus/config.py" in names
    assert not [name for name in names if name.startswith(("tests/", "benchmarks/", "examples/"))]
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Requires-Dist: django>=4.2" in text
    assert "Provides-Extra: postgresql" in text
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert (
        "django_prometheus = django_prometheus.pytest_plugin"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def test_wheel_and_sdist_carry_the_licence_the_metadata_declares(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    licence = (ROOT / "LICENSE").read_bytes()
    assert licence.startswith(b"\n                                 Apache License\n")
    (sdist,) = tmp_path.glob("django_prometheus-*.tar.gz")
    with tarfile.open(sdist) as archive:
        root = archive.getnames()[0].split("/")[0]
        members = set(archive.getnames())
        assert f"{root}/LICENSE" in members
        assert not [name for name in members if name.startswith(f"{root}/tests/")]
        licence_file = archive.extractfile(f"{root}/LICENSE")
        assert licence_file is not None
        assert licence_file.read() == licence
        pkg_info = archive.extractfile(f"{root}/PKG-INFO")
        assert pkg_info is not None
        metadata = pkg_info.read().decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    (wheel,) = tmp_path.glob("django_prometheus-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (licence_entry,) = [
            n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")
        ]
        assert archive.read(licence_entry) == licence
