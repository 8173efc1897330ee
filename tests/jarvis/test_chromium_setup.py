"""`make test` on a machine without Chromium (tools/chromium.sh, run before pytest): installs Debian's package when it
can (root with apt-get), otherwise stops with one sentence saying how. Run with a PATH of the test's own, holding only
what each case needs; apt-get there is a recorder that installs a chromium script, never the real one."""

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "chromium.sh"
SENTENCE = ("The browser tests need Chromium: install it with `sudo apt-get install chromium` (or set CHROMIUM_PATH to a"
            " Chromium binary) and run `make test` again.\n")


def executable(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bin_dir():
    """Outside pytest's private tmp tree, so the unprivileged user of the last case can reach it."""
    top = Path(tempfile.mkdtemp(prefix="chromium-setup-"))
    top.chmod(0o755)
    (top / "bin").mkdir(mode=0o755)
    yield top / "bin"
    shutil.rmtree(top)


def fake_apt(bin_dir: Path) -> Path:
    log = bin_dir.parent / "apt.log"
    executable(bin_dir / "apt-get", f'echo "$*" >> {log}\n'
               f'if [ "$1" = install ]; then printf "#!/bin/bash\\n" > {bin_dir}/chromium; /bin/chmod +x {bin_dir}/chromium; fi')
    return log


def run(bin_dir: Path, *prefix: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, "/bin/bash", str(SCRIPT)], env={"PATH": str(bin_dir), **env},
                          capture_output=True, text=True)


def test_chromium_already_there_is_left_alone(bin_dir):
    log = fake_apt(bin_dir)
    executable(bin_dir / "chromium", "")
    done = run(bin_dir)
    assert done.returncode == 0 and done.stdout == done.stderr == "" and not log.exists()


def test_chromium_path_counts_as_installed(bin_dir):
    log = fake_apt(bin_dir)
    done = run(bin_dir, CHROMIUM_PATH=str(executable(bin_dir.parent / "my-chromium", "")))
    assert done.returncode == 0 and not log.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the install path runs as root")
def test_root_with_apt_get_installs_debians_chromium(bin_dir):
    log = fake_apt(bin_dir)
    done = run(bin_dir)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["update -qq", "install -y -qq chromium"]
    assert (bin_dir / "chromium").stat().st_mode & stat.S_IXUSR


@pytest.mark.skipif(os.geteuid() != 0, reason="runs as root without apt-get")
def test_without_apt_get_make_test_stops_with_one_sentence(bin_dir):
    done = run(bin_dir)
    assert done.returncode == 1 and done.stderr == SENTENCE and done.stdout == ""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become another user")
def test_a_user_who_is_not_root_is_told_how_and_apt_get_is_not_run(bin_dir):
    log = fake_apt(bin_dir)
    nobody = (shutil.which("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups")
    reach = subprocess.run([*nobody, "/bin/bash", "-c", "command -v apt-get"], env={"PATH": str(bin_dir)})
    assert reach.returncode == 0  # apt-get is there for this user: what stops it is not being root
    done = run(bin_dir, *nobody)
    assert done.returncode == 1 and done.stderr == SENTENCE
    assert not log.exists() and not (bin_dir / "chromium").exists()


def test_make_test_runs_it_before_pytest():
    makefile = (SCRIPT.parents[1] / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("tools/chromium.sh") < recipe.index("pytest")
