"""The lock files agree with pyproject.toml, and the image and `make install` install from them with hashes."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tools import lock

ROOT = Path(__file__).resolve().parents[2]


def test_each_lock_pins_every_requirement_of_pyproject_with_hashes():
    for name in lock.LOCKS:
        assert lock.disagreements(name) == [], name
        text = (ROOT / name).read_text()
        blocks = re.split(r"\n(?=[^\s#])", text.split("\n", 3)[3])
        assert blocks and all("--hash=sha256:" in block for block in blocks if block.strip()), name


def test_a_requirement_changed_in_pyproject_without_a_new_lock_fails_the_check(tmp_path, monkeypatch):
    for name in lock.LOCKS:
        (tmp_path / name).write_text((ROOT / name).read_text())
    pyproject = (ROOT / "pyproject.toml").read_text()
    monkeypatch.setattr(lock, "ROOT", tmp_path)

    (tmp_path / "pyproject.toml").write_text(pyproject)
    assert [lock.disagreements(name) for name in lock.LOCKS] == [[], []]

    (tmp_path / "pyproject.toml").write_text(pyproject.replace('"django>=5.2,<5.3"', '"django>=6.0,<6.1"'))
    for name in lock.LOCKS:
        problems = lock.disagreements(name)
        assert any("other dependency lists" in problem for problem in problems), problems
        assert any(problem.startswith(f"{name} pins django") and "outside" in problem for problem in problems), problems

    (tmp_path / "pyproject.toml").write_text(pyproject.replace('"pytest>=8,<10",', '"pytest>=8,<10",\n    "left-pad>=1",'))
    assert lock.disagreements("requirements.lock") == []  # a dev package does not concern the runtime lock
    assert "requirements-dev.lock pins no version of left-pad" in lock.disagreements("requirements-dev.lock")


def test_the_dev_lock_holds_the_runtime_lock():
    runtime = {str(pin) for pin in lock.pins((ROOT / "requirements.lock").read_text())}
    dev = {str(pin) for pin in lock.pins((ROOT / "requirements-dev.lock").read_text())}
    differ = {pin for pin in runtime - dev}
    assert not differ, f"the image and make install would run different versions: {sorted(differ)}"


def test_the_image_and_make_install_install_from_the_locks_with_hashes():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q --require-hashes -r requirements-dev.lock" in makefile
    assert "pip install -q --no-deps -e ." in makefile
    assert re.search(r"^\$\(VENV\)/\.installed: pyproject\.toml requirements-dev\.lock$", makefile, re.M)


def test_images_are_tagged_with_the_version_and_the_commit():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    tag = subprocess.run(["make", "-s", "image-tag"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert tag.strip() == f"jarvis:{version}-{commit}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'org.opencontainers.image.version="${VERSION}"' in dockerfile
    assert 'org.opencontainers.image.revision="${COMMIT}"' in dockerfile


def test_make_test_checks_the_locks_first_and_the_check_passes_here():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("tools/lock.py --check") < recipe.index("pytest")
    out = subprocess.run([sys.executable, "tools/lock.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert (out.returncode, out.stderr) == (0, "")
