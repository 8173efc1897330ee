"""Contracts: JSON Schemas written from each vendor's published material (tests/contracts/schemas/*.json, each citing
its sources), and a recording httpx transport that captures what the desk's real clients send and receive.

`check(service, definition, instance)` fails with every violation listed; `problems(...)` returns them (for tests that
show a schema refuses a shape)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parent / "schemas"
SERVICES = ("bags", "jupiter", "solana_rpc", "solana_ws")


@cache
def _registry() -> tuple[Registry, dict[str, str]]:
    registry, ids = Registry(), {}
    for service in SERVICES:
        schema = json.loads((SCHEMAS / f"{service}.json").read_text())
        Draft202012Validator.check_schema(schema)
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
        ids[service] = schema["$id"]
    return registry, ids


def _validator(service: str, definition: str) -> Draft202012Validator:
    registry, ids = _registry()
    return Draft202012Validator({"$ref": f"{ids[service]}#/$defs/{definition}"}, registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def problems(service: str, definition: str, instance) -> list[str]:
    errors = sorted(_validator(service, definition).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"[:300] for e in errors]


def check(service: str, definition: str, instance) -> None:
    found = problems(service, definition, instance)
    assert not found, f"{service} {definition} breaks its contract:\n" + "\n".join(found)


def rpc_result_problems(method: str, result) -> list[str]:
    return problems("solana_rpc", f"results/{method}", result)


class Recorder(httpx.BaseTransport):
    """An httpx transport that sends for real and keeps every (request, response) pair, bodies read."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        response.read()
        self.exchanges.append((request, response))
        return response

    def close(self) -> None:
        self._inner.close()

    def calls(self, path_suffix: str) -> list[tuple[dict, httpx.Response]]:
        """(query parameters or JSON body, response) of every request whose path ends with `path_suffix`."""
        found = []
        for request, response in self.exchanges:
            if request.url.path.endswith(path_suffix):
                sent = json.loads(request.content) if request.content else dict(request.url.params)
                found.append((sent, response))
        return found
