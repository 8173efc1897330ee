"""The retention rule, pure: which backups to keep. No I/O, so it can be checked exhaustively.

Kept: the newest ``hourly`` hourly backups, the newest ``daily`` daily backups, the newest scheduled backup of each of
the last ``monthly`` calendar months (UTC) that have one, the newest ``manual`` manual or safety backups, the newest
verified backup of any kind, and the newest backup of any kind. Everything else may be pruned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Candidate:
    id: int
    kind: str
    started_at: datetime
    verified: bool


@dataclass(frozen=True)
class Policy:
    hourly: int
    daily: int
    monthly: int
    manual: int


def _newest(candidates: list[Candidate], count: int) -> list[Candidate]:
    return candidates[:count] if count > 0 else []


def retention_keep(candidates: list[Candidate], policy: Policy) -> set[int]:
    ordered = sorted(candidates, key=lambda c: (c.started_at, c.id), reverse=True)
    keep: set[int] = set()
    keep.update(c.id for c in _newest([c for c in ordered if c.kind == "hourly"], policy.hourly))
    keep.update(c.id for c in _newest([c for c in ordered if c.kind == "daily"], policy.daily))
    keep.update(c.id for c in _newest([c for c in ordered if c.kind in ("manual", "safety")], policy.manual))
    months: dict[tuple[int, int], Candidate] = {}
    for candidate in ordered:
        if candidate.kind in ("hourly", "daily"):
            months.setdefault((candidate.started_at.year, candidate.started_at.month), candidate)
    keep.update(c.id for c in _newest(list(months.values()), policy.monthly))
    verified = [c for c in ordered if c.verified]
    if verified:
        keep.add(verified[0].id)
    if ordered:
        keep.add(ordered[0].id)
    return keep
