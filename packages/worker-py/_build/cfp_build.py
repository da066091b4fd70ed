"""A minimal in-tree PEP 517 build backend for cfp-worker (standard library only).

`pip install packages/worker-py` then needs nothing from PyPI to build the package (setuptools would be fetched
into an isolated build environment first, which costs seconds to minutes on a first start and fails offline):
the wheel is pure Python, `cfp_worker/*.py` plus its metadata.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import zipfile

NAME = "cfp_worker"
DIST = "cfp_worker"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIRES = ["websockets>=13"]


def _version() -> str:
    with open(os.path.join(ROOT, NAME, "__init__.py"), encoding="utf-8") as fh:
        m = re.search(r'^__version__ = "([^"]+)"', fh.read(), re.M)
    if not m:
        raise RuntimeError("cfp_worker/__init__.py defines no __version__")
    return m.group(1)


def _metadata(version: str) -> str:
    lines = [
        "Metadata-Version: 2.1",
        "Name: cfp-worker",
        f"Version: {version}",
        "Summary: CFP Python step worker: runs Motia-style Python steps against the CFP runtime",
        "Requires-Python: >=3.10",
        *(f"Requires-Dist: {r}" for r in REQUIRES),
        'Requires-Dist: pydantic>=2; extra == "pydantic"',
        "Provides-Extra: pydantic",
    ]
    return "\n".join(lines) + "\n"


def _files(version: str) -> dict[str, bytes]:
    info = f"{DIST}-{version}.dist-info"
    out: dict[str, bytes] = {}
    pkg = os.path.join(ROOT, NAME)
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py"):
            with open(os.path.join(pkg, name), "rb") as fh:
                out[f"{NAME}/{name}"] = fh.read()
    out[f"{info}/METADATA"] = _metadata(version).encode()
    out[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: cfp_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    out[f"{info}/entry_points.txt"] = b"[console_scripts]\ncfp-worker-py = cfp_worker.__main__:main\n"
    return out


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):  # noqa: ANN001, ANN201 - PEP 517 hook
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):  # noqa: ANN001, ANN201
    version = _version()
    info = f"{DIST}-{version}.dist-info"
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    with open(os.path.join(metadata_directory, info, "METADATA"), "w", encoding="utf-8") as fh:
        fh.write(_metadata(version))
    return info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):  # noqa: ANN001, ANN201
    version = _version()
    files = _files(version)
    record_path = f"{DIST}-{version}.dist-info/RECORD"
    record = "\n".join([*(_record_line(p, d) for p, d in files.items()), f"{record_path},,"]) + "\n"
    name = f"{DIST}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(record_path, record)
    return name
