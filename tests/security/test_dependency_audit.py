"""tools/dependency_audit.py's fallback against a local stand-in of PyPI's JSON API: a vulnerability of an installed
latest release fails the audit unless it is explained, an older install is listed as not checked (never as clean),
and no reachable database is said plainly without failing (unless --strict)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tools import dependency_audit as audit

PROJECTS = {
    "pip": {"info": {"version": "99.0"}, "releases": {"99.0": [{}]}, "vulnerabilities": []},
    "safe-pkg": {"info": {"version": "1.0.0"}, "releases": {"1.0.0": [{}]}, "vulnerabilities": []},
    "bad-pkg": {"info": {"version": "2.0.0"}, "releases": {"2.0.0": [{}]},
                "vulnerabilities": [{"id": "PYSEC-2099-1", "aliases": ["CVE-2099-0001"], "fixed_in": ["2.0.1"]},
                                    {"id": "PYSEC-2099-2", "aliases": [], "fixed_in": [], "withdrawn": "2099-01-01"}]},
    "old-pkg": {"info": {"version": "3.1.0"}, "releases": {"3.0.0": [{}], "3.0.5": [{}], "3.1.0": [{}]},
                "vulnerabilities": []},
}


@pytest.fixture
def pypi(monkeypatch):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.strip("/").split("/")[0]
            body = json.dumps(PROJECTS[name]).encode() if name in PROJECTS else b"{}"
            self.send_response(200 if name in PROJECTS else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(audit, "PYPI_JSON", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setattr(audit, "audit_osv", lambda: None)  # OSV unreachable, as on this machine
    monkeypatch.setattr(audit, "installed", lambda: {"safe-pkg": "1.0.0", "bad-pkg": "2.0.0", "old-pkg": "3.0.0",
                                                     "gone-pkg": "1.0"})
    yield
    server.shutdown()
    server.server_close()


def test_a_vulnerable_latest_release_fails_unless_explained(pypi, capsys, monkeypatch):
    assert audit.main([]) == 1
    out = capsys.readouterr().out
    assert "bad-pkg 2.0.0: PYSEC-2099-1 (CVE-2099-0001), fixed in 2.0.1" in out and "NOT EXPLAINED" in out
    assert "PYSEC-2099-2" not in out  # withdrawn
    assert "old-pkg 3.0.0 (latest 3.1.0; 3.0.5 is newer in 3.0.x)" in out and "gone-pkg 1.0 (not found on PyPI)" in out
    assert "2 of 4 packages" in out and "1 unexplained" in out

    monkeypatch.setitem(audit.EXPLAINED, "CVE-2099-0001", "the desk never calls the affected function.")
    assert audit.main([]) == 0
    assert "explained: the desk never calls the affected function." in capsys.readouterr().out


def test_no_reachable_database_is_said_plainly_and_fails_only_when_strict(pypi, capsys, monkeypatch):
    monkeypatch.setattr(audit, "PYPI_JSON", "http://127.0.0.1:9/pypi")  # nothing listens on the discard port
    assert audit.main([]) == 0
    assert "NO VULNERABILITY DATABASE REACHABLE" in capsys.readouterr().out
    assert audit.main(["--strict"]) == 2
