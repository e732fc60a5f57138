"""The ``testutils.py`` of django-prometheus 2.5.0, for differential tests.

Its code is never part of this repository: it is read from ``.venv-upstream`` (made by
``benchmarks/make-upstream-venv.sh``) when that holds the very file of 2.5.0, or else
from the 2.5.0 wheel, downloaded once with ``pip download`` and checked against its
known sha256. Both the wheel and the file taken out of it are kept in
``.venv-upstream/downloads/`` (git-ignored, removed by ``make clean``).

``python -m tests.upstream`` prints the path of the file, for scripts.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

__all__ = [
    "TESTUTILS_SHA256",
    "VERSION",
    "WHEEL_SHA256",
    "UpstreamUnavailableError",
    "load_testutils",
    "testutils_path",
    "wheel_path",
]

VERSION = "2.5.0"
WHEEL = f"django_prometheus-{VERSION}-py2.py3-none-any.whl"
WHEEL_SHA256 = "f15efb526cd53f9cf12da72dc55506322f5566b017a819ff27be1da302303134"
# The sha256 of django_prometheus/testutils.py as the RECORD of that wheel lists it.
TESTUTILS_SHA256 = "2977302dedae18b8def31118ceb46e0285a786653572c38badd49500065adfbc"
TESTUTILS_IN_WHEEL = "django_prometheus/testutils.py"

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_VENV = ROOT / ".venv-upstream"
DOWNLOADS = UPSTREAM_VENV / "downloads"
PIP_TIMEOUT_SECONDS = 180


class UpstreamUnavailableError(RuntimeError):
    """The 2.5.0 file could not be had (no network, or a download that is not 2.5.0)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _installed() -> Path | None:
    """``testutils.py`` of the upstream venv, if that venv has 2.5.0's exact file."""
    for candidate in sorted(UPSTREAM_VENV.glob("lib/python*/site-packages/django_prometheus")):
        path = candidate / "testutils.py"
        if path.is_file() and _sha256(path) == TESTUTILS_SHA256:
            return path
    return None


def _download_wheel(target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            sys.executable, "-m", "pip", "download", f"django-prometheus=={VERSION}",
            "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
            "--retries", "1", "--timeout", "20", "--quiet", "-d", scratch,
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise UpstreamUnavailableError(
                f"pip download django-prometheus=={VERSION} took over {PIP_TIMEOUT_SECONDS}s"
            ) from exc
        wheel = Path(scratch) / WHEEL
        if done.returncode != 0 or not wheel.is_file():
            lines = [line for line in done.stderr.splitlines() if "WARNING" not in line]
            detail = "\n".join(lines[-5:]) or f"exit status {done.returncode}, no {WHEEL}"
            raise UpstreamUnavailableError(
                f"pip download django-prometheus=={VERSION} failed:\n{detail}"
            )
        digest = _sha256(wheel)
        if digest != WHEEL_SHA256:
            raise UpstreamUnavailableError(
                f"the downloaded {WHEEL} has sha256 {digest}, not the known {WHEEL_SHA256}"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(wheel), target)


def wheel_path() -> Path:
    """The 2.5.0 wheel, downloaded once and checked; raises :class:`UpstreamUnavailableError`."""
    wheel = DOWNLOADS / WHEEL
    if not (wheel.is_file() and _sha256(wheel) == WHEEL_SHA256):
        _download_wheel(wheel)
    return wheel


def _extracted() -> Path:
    """``testutils.py`` taken out of the (downloaded, checked) 2.5.0 wheel."""
    extracted = DOWNLOADS / f"django_prometheus-{VERSION}-testutils.py"
    if extracted.is_file() and _sha256(extracted) == TESTUTILS_SHA256:
        return extracted
    wheel = wheel_path()
    with zipfile.ZipFile(wheel) as archive:
        content = archive.read(TESTUTILS_IN_WHEEL)
    if hashlib.sha256(content).hexdigest() != TESTUTILS_SHA256:
        raise UpstreamUnavailableError(f"{TESTUTILS_IN_WHEEL} in {wheel} is not the known file")
    partial = extracted.with_name(f"{extracted.name}.{os.getpid()}.part")
    partial.write_bytes(content)
    partial.replace(extracted)
    return extracted


def testutils_path() -> Path:
    """The path of 2.5.0's ``testutils.py``; raises :class:`UpstreamUnavailableError`."""
    return _installed() or _extracted()


def load_testutils() -> ModuleType:
    """2.5.0's ``testutils`` imported as ``upstream_testutils`` (it imports prometheus_client)."""
    path = testutils_path()
    spec = importlib.util.spec_from_file_location("upstream_testutils", path)
    if spec is None or spec.loader is None:
        raise UpstreamUnavailableError(f"{path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    try:
        print(testutils_path())  # noqa: T201
    except UpstreamUnavailableError as exc:
        print(exc, file=sys.stderr)  # noqa: T201
        sys.exit(1)
