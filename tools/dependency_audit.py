"""Known vulnerabilities in the installed Python dependencies (`make audit`, and a step of .ci/run).

1. pip-audit against the OSV database (full coverage: every installed version). If OSV answers, its verdict is the
   result.
2. If OSV is unreachable (machines that reach only the package registries), the PyPI JSON API: a project's JSON lists
   the known vulnerabilities of its *latest* release (PyPI's copy of OSV data). For every installed package whose
   version is that latest release, this is an exact check; packages installed at an older version are listed as
   NOT CHECKED, never reported as clean. (pip-audit's own PyPI service asks for /pypi/<name>/<version>/json, which
   some registry proxies do not serve: it then skips every package.)
3. If neither answers, it says so and exits 0 (a missing network must not fail CI), unless --strict.

A vulnerability that is known and judged not to apply is listed in EXPLAINED with the reason; any other fails.
Exit status: 0 clean (or unreachable), 1 an unexplained vulnerability, 2 unreachable with --strict.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata

# vulnerability id (or alias) -> why it does not apply to this desk. Keep each reason one checkable sentence.
EXPLAINED: dict[str, str] = {}

PYPI_JSON = os.environ.get("AUDIT_PYPI_JSON_URL", "https://pypi.org/pypi")
TIMEOUT = float(os.environ.get("AUDIT_TIMEOUT", "15"))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """name -> version of every distribution in this environment, except the project itself (not on PyPI)."""
    out = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and _norm(name) != "jarvis":
            out[_norm(name)] = dist.version
    return out


def _explained(ids: list[str]) -> str | None:
    return next((EXPLAINED[i] for i in ids if i in EXPLAINED), None)


def audit_osv() -> tuple[str, list[dict]] | None:
    """pip-audit with OSV: (source, findings), or None when OSV cannot be reached."""
    cmd = [sys.executable, "-m", "pip_audit", "-s", "osv", "-f", "json", "--progress-spinner", "off", "--skip-editable",
           "--timeout", str(int(TIMEOUT))]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        report = json.loads(run.stdout)
    except ValueError:
        return None  # a connection error ends pip-audit before it writes its report
    findings = []
    for dep in report.get("dependencies", []):
        for vuln in dep.get("vulns", []):
            findings.append({"name": dep["name"], "version": dep["version"], "id": vuln["id"],
                             "aliases": vuln.get("aliases", []), "fixed_in": vuln.get("fix_versions", [])})
    return "OSV (pip-audit), every installed package", findings


def _project_json(client, name: str) -> dict | None:
    try:
        response = client.get(f"{PYPI_JSON}/{name}/json")
    except Exception:
        return None
    return response.json() if response.status_code == 200 else {}


def _series_note(version: str, releases: dict) -> str:
    """Whether `version` is the newest release of its major.minor series (the one security fixes land in)."""
    from packaging.version import InvalidVersion, Version

    try:
        mine = Version(version)
        same = [Version(v) for v, files in releases.items() if files and not Version(v).is_prerelease
                and Version(v).release[:2] == mine.release[:2]]
    except InvalidVersion:
        return ""
    newest = max(same, default=mine)
    return f"; newest of {mine.major}.{mine.minor}.x" if newest <= mine else f"; {newest} is newer in {mine.major}.{mine.minor}.x"


def audit_pypi_latest(packages: dict[str, str]) -> tuple[str, list[dict], list[str]] | None:
    """(source, findings, not checked) from PyPI's project JSON, or None when PyPI's JSON API cannot be reached."""
    import httpx

    with httpx.Client(timeout=TIMEOUT, follow_redirects=True) as client:
        probe = _project_json(client, "pip")
        if not probe:
            return None
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = dict(zip(packages, pool.map(lambda n: _project_json(client, n), packages)))
    findings, not_checked = [], []
    for name, version in sorted(packages.items()):
        data = answers[name]
        latest = (data or {}).get("info", {}).get("version")
        if not data or latest != version:
            series = _series_note(version, data.get("releases", {}) if data else {})
            not_checked.append(f"{name} {version}" + (f" (latest {latest}{series})" if latest else " (not found on PyPI)"))
            continue
        for vuln in data.get("vulnerabilities") or []:
            if vuln.get("withdrawn"):
                continue
            findings.append({"name": name, "version": version, "id": vuln["id"], "aliases": vuln.get("aliases", []),
                             "fixed_in": vuln.get("fixed_in", [])})
    checked = len(packages) - len(not_checked)
    return f"PyPI JSON API, {checked} of {len(packages)} packages (those at their latest release)", findings, not_checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="fail (exit 2) when no vulnerability database answers")
    args = parser.parse_args(argv)

    packages = installed()
    not_checked: list[str] = []
    result = audit_osv()
    if result is None:
        print("dependency audit: OSV (api.osv.dev) is unreachable from here; falling back to PyPI's vulnerability data")
        fallback = audit_pypi_latest(packages)
        if fallback is None:
            print("dependency audit: NO VULNERABILITY DATABASE REACHABLE (neither OSV nor PyPI's JSON API): "
                  f"{len(packages)} packages NOT CHECKED.")
            return 2 if args.strict else 0
        source, findings, not_checked = fallback
    else:
        source, findings = result

    unexplained = []
    for f in findings:
        reason = _explained([f["id"], *f["aliases"]])
        fixed = ", ".join(f["fixed_in"]) or "no fix yet"
        line = f"  {f['name']} {f['version']}: {f['id']} ({', '.join(f['aliases']) or 'no alias'}), fixed in {fixed}"
        print(line + (f"\n    explained: {reason}" if reason else "\n    NOT EXPLAINED"))
        if not reason:
            unexplained.append(f)
    if not_checked:
        print(f"dependency audit: NOT CHECKED ({len(not_checked)}: PyPI publishes vulnerability data here only for "
              "a project's latest release; these are installed at an older one):")
        for line in not_checked:
            print(f"  {line}")
    print(f"dependency audit: source {source}; {len(findings)} known vulnerabilities, {len(unexplained)} unexplained.")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
