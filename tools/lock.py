"""Lock files with hashes, compiled from pyproject.toml by uv (`make lock`), and the check that they still agree.

requirements.lock holds the runtime dependencies with the s3 extra (the image installs it, so any backup storage
works), requirements-dev.lock the dev extra as well (`make install`). Both are universal (one file for every Python the project supports) and every line
carries its hashes, so `pip install --require-hashes` installs exactly what was compiled. The first line of each file
is the sha256 of pyproject.toml's dependency lists: a changed pyproject.toml without a new lock fails the suite
(tests/deploy/test_lock.py) without needing the network.

    python tools/lock.py           # write both lock files
    python tools/lock.py --check   # exit 1, naming the reason, when a lock disagrees with pyproject.toml
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
HEADER = "# pyproject-sha256: "
LOCKS = {"requirements.lock": ("s3",), "requirements-dev.lock": ("dev", "s3")}
COMMAND = "python tools/lock.py  (make lock)"


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements(extras: tuple[str, ...]) -> list[Requirement]:
    meta = project()
    lines = list(meta["dependencies"])
    for extra in extras:
        lines += meta["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def pyproject_digest(extras: tuple[str, ...]) -> str:
    meta = project()
    payload = {
        "requires-python": meta.get("requires-python"),
        "dependencies": sorted(meta["dependencies"]),
        "extras": {extra: sorted(meta["optional-dependencies"][extra]) for extra in extras},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def pins(text: str) -> list[Requirement]:
    """The `name==version ; marker` lines of a lock file (hashes and comments left out)."""
    found = []
    for line in text.splitlines():
        if not line or line[0] in " #-":
            continue
        found.append(Requirement(line.removesuffix("\\").strip()))
    return found


def disagreements(name: str) -> list[str]:
    """Why the lock file `name` does not match pyproject.toml (empty when it does)."""
    extras = LOCKS[name]
    path = ROOT / name
    if not path.exists():
        return [f"{name} is missing: run make lock"]
    text = path.read_text()
    problems = []
    if not text.startswith(HEADER + pyproject_digest(extras) + "\n"):
        problems.append(f"{name} was compiled from other dependency lists than pyproject.toml's: run make lock")
    pinned: dict[str, list[Requirement]] = {}
    for pin in pins(text):
        pinned.setdefault(canonicalize_name(pin.name), []).append(pin)
    for requirement in requirements(extras):
        candidates = pinned.get(canonicalize_name(requirement.name), [])
        versions = [next(iter(pin.specifier)).version for pin in candidates if len(pin.specifier) == 1]
        if not candidates:
            problems.append(f"{name} pins no version of {requirement.name}")
        elif not any(requirement.specifier.contains(version, prereleases=True) for version in versions):
            problems.append(f"{name} pins {requirement.name} {versions}, outside {requirement.specifier}")
    return problems


def compile_locks() -> None:
    uv = Path(sys.executable).parent / "uv"  # the dev extra's uv, next to this Python; else the one on PATH
    if not uv.exists():
        uv = Path(shutil.which("uv") or "uv")
    for name, extras in LOCKS.items():
        out = ROOT / name
        command = [str(uv), "pip", "compile", "pyproject.toml", "--universal", "--generate-hashes", "--quiet",
                   "--custom-compile-command", COMMAND, "-o", str(out)]
        for extra in extras:
            command += ["--extra", extra]
        subprocess.run(command, cwd=ROOT, check=True)
        out.write_text(HEADER + pyproject_digest(extras) + "\n" + out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the locks agree with pyproject.toml")
    args = parser.parse_args()
    if not args.check:
        compile_locks()
    problems = [problem for name in LOCKS for problem in disagreements(name)]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
