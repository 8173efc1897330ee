"""Alert rules: what each metric means, how a rule is validated, and the evaluation that raises and resolves events.

A rule's ``metric`` is one of METRICS. Evaluation (the `monitoring.evaluate_alerts` task on beat) observes each
enabled rule's targets; a target that crosses its threshold gets ONE firing event (unique while firing, so no
duplicates however often it is evaluated), not sooner than ``cooldown_minutes`` after the previous event of the
same target; when the condition clears the event is resolved. Both are published on commit as "alert.changed"
events (jarvis.events).

An open event follows its cause: an evaluated rule whose sentence changes while it fires has its message updated
in place; an alert raised again by code (`alert_raise` with the key of an open event) counts one more occurrence,
keeps it in the event's history (AlertOccurrence) and, when the sentence changed, takes it as the message and
notifies again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from jarvis.events import event_emit_on_commit
from monitoring import selectors
from monitoring.budgets import budget_usage
from monitoring.checks import readiness_components, readiness_run
from monitoring.models import AlertEvent, AlertOccurrence, AlertRule
from monitoring.taskstats import task_outcomes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    target: str
    value: Decimal
    firing: bool
    message: str


@dataclass
class Context:
    """What one evaluation pass reads, each at most once."""

    now: datetime

    @cached_property
    def readiness(self) -> dict:
        return readiness_run()["components"]

    @cached_property
    def queue_depths(self) -> dict[str, int]:
        return selectors.queue_depths()

    @cached_property
    def worker_memory(self) -> dict[str, dict[str, int]]:
        return selectors.worker_memory()

    @cached_property
    def budgets(self) -> list[dict]:
        return budget_usage(now=self.now)


@dataclass(frozen=True)
class Metric:
    description: str
    unit: str
    minimum: Decimal
    maximum: Decimal
    observe: Callable[[AlertRule, Context], list[Observation]]
    targets: Callable[[], list[str]] | None = field(default=None)


def _component_down(rule: AlertRule, ctx: Context) -> list[Observation]:
    out = []
    for name, result in ctx.readiness.items():
        if rule.target and name != rule.target:
            continue
        down = result["status"] != "up"
        out.append(Observation(name, Decimal(int(down)), down, f"{name} is down: {result['detail']}"))
    return out


def _prices_stale(rule: AlertRule, ctx: Context) -> list[Observation]:
    fresh, oldest, detail = selectors.price_feed_status(stale_after=float(rule.threshold))
    value = Decimal(-1) if oldest is None else Decimal(int(oldest))
    return [Observation("price_feed", value, not fresh, f"Prices are stale: {detail}.")]


def _exit_failures(rule: AlertRule, ctx: Context) -> list[Observation]:
    count = selectors.exit_failures_since(ctx.now - timedelta(minutes=rule.window_minutes))
    return [Observation("exits", Decimal(count), count >= rule.threshold,
                        f"{count} exit order(s) failed in the last {rule.window_minutes} minutes.")]


def _error_rate(rule: AlertRule, ctx: Context) -> list[Observation]:
    failed, finished = task_outcomes(minutes=rule.window_minutes, now=ctx.now.timestamp())
    rate = Decimal(failed * 100) / finished if finished else Decimal(0)
    rate = rate.quantize(Decimal("0.01"))
    return [Observation("tasks", rate, finished > 0 and rate >= rule.threshold,
                        f"{rate}% of background tasks failed in the last {rule.window_minutes} minutes "
                        f"({failed} of {finished}).")]


def _queue_backlog(rule: AlertRule, ctx: Context) -> list[Observation]:
    return [
        Observation(f"queue:{queue}", Decimal(depth), depth >= rule.threshold,
                    f"Queue {queue} has {depth} waiting tasks (limit {rule.threshold}).")
        for queue, depth in ctx.queue_depths.items()
        if not rule.target or rule.target in (queue, f"queue:{queue}")
    ]


def _worker_memory(rule: AlertRule, ctx: Context) -> list[Observation]:
    out = []
    for worker, sizes in ctx.worker_memory.items():
        if rule.target and rule.target != worker:
            continue
        largest = Decimal(max(sizes.values(), default=0)) / (1024 * 1024)
        largest = largest.quantize(Decimal("0.1"))
        out.append(Observation(worker, largest, largest >= rule.threshold,
                               f"Worker {worker} has a process using {largest} MB (limit {rule.threshold} MB)."))
    return out


def _budget_spent(rule: AlertRule, ctx: Context) -> list[Observation]:
    out = []
    for row in ctx.budgets:
        if row["used_percent"] is None or (rule.target and rule.target != row["provider"]):
            continue
        used = Decimal(str(row["used_percent"]))
        out.append(Observation(row["provider"], used, used >= rule.threshold,
                               f"{row['provider']} has used {used}% of its monthly budget."))
    return out


def _raised(rule: AlertRule, ctx: Context) -> list[Observation]:
    """Events raised by code (`alert_raise`) stay open for the rule's window after their last report, then resolve."""
    window = timedelta(minutes=rule.window_minutes)
    return [
        Observation(event.target, event.value or Decimal(1), ctx.now - (event.last_seen_at or event.started_at) < window,
                    event.message)
        for event in rule.events.filter(state=AlertEvent.State.FIRING)
    ]


def _readiness_targets() -> list[str]:
    return readiness_components()


METRICS: dict[str, Metric] = {
    "component_down": Metric("A readiness component is down.", "", Decimal(0), Decimal(0), _component_down,
                             _readiness_targets),
    "prices_stale": Metric("Age of the oldest price of a held token.", "s", Decimal(1), Decimal(86400),
                           _prices_stale),
    "exit_failures": Metric("Failed exit orders within the window.", "orders", Decimal(1), Decimal(100000),
                            _exit_failures),
    "error_rate": Metric("Failed share of finished tasks within the window.", "%", Decimal("0.01"), Decimal(100),
                         _error_rate),
    "queue_backlog": Metric("Tasks waiting in a queue.", "tasks", Decimal(1), Decimal(10_000_000), _queue_backlog,
                            lambda: selectors.celery_queues() + [f"queue:{q}" for q in selectors.celery_queues()]),
    "worker_memory": Metric("Largest worker process resident memory.", "MB", Decimal(16), Decimal(1_000_000),
                            _worker_memory),
    "budget_spent": Metric("Share of a provider's monthly budget used.", "%", Decimal(1), Decimal(1000),
                           _budget_spent),
    "raised": Metric("Raised by the desk's own code (alert_raise); resolves after the window.", "", Decimal(0),
                     Decimal(0), _raised),
}
RAISED_RULE = "Raised by the desk"


def rule_problems(*, metric: str, threshold, target: str = "", window_minutes: int = 15) -> dict[str, str]:
    """Field -> reason for every problem of a rule; empty when the rule is valid."""
    spec = METRICS.get(metric)
    if spec is None:
        return {"metric": f"Unknown metric {metric!r}; choose one of: {', '.join(sorted(METRICS))}."}
    problems = {}
    try:
        value = Decimal(str(threshold))
        if not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        return {"threshold": f"The threshold {threshold!r} is not a number."}
    if not spec.minimum <= value <= spec.maximum:
        unit = f" {spec.unit}" if spec.unit else ""
        problems["threshold"] = (
            f"For {metric} the threshold must be between {spec.minimum}{unit} and {spec.maximum}{unit}, not {value}."
        )
    if target and spec.targets is not None and target not in spec.targets():
        problems["target"] = f"{target!r} is not a target of {metric}; use one of: {', '.join(spec.targets())}."
    if window_minutes is None or not 1 <= int(window_minutes) <= 7 * 24 * 60:
        problems["window_minutes"] = "The window must be between 1 minute and 7 days."
    return problems


def alert_rule_create(**fields) -> AlertRule:
    """Create a rule after validation (raises django ValidationError with the reasons)."""
    rule = AlertRule(**fields)
    problems = rule_problems(metric=rule.metric, threshold=rule.threshold, target=rule.target,
                             window_minutes=rule.window_minutes)
    if problems:
        raise ValidationError(problems)
    rule.full_clean()
    rule.save()
    return rule


def alerts_evaluate(*, now: datetime | None = None) -> dict[str, int]:
    """Evaluate every enabled rule once; returns how many events fired and resolved."""
    ctx = Context(now=now or timezone.now())
    fired = resolved = 0
    for rule in AlertRule.objects.filter(enabled=True):
        try:
            observations = METRICS[rule.metric].observe(rule, ctx)
        except Exception:
            logger.exception("alert rule %s could not be evaluated", rule.name)
            continue
        open_events = {event.target: event for event in rule.events.filter(state=AlertEvent.State.FIRING)}
        for obs in observations:
            event = open_events.pop(obs.target, None)
            if obs.firing and event is None:
                fired += _fire(rule, obs, ctx.now)
            elif obs.firing and event.message != obs.message[:300]:
                AlertEvent.objects.filter(pk=event.pk, state=AlertEvent.State.FIRING).update(
                    message=obs.message[:300], value=obs.value
                )
            elif not obs.firing and event is not None:
                resolved += _resolve(event, ctx.now)
        for event in open_events.values():  # target no longer observed (rule edited, component removed)
            resolved += _resolve(event, ctx.now)
    return {"fired": fired, "resolved": resolved}


def _fire(rule: AlertRule, obs: Observation, now: datetime) -> int:
    last = rule.events.filter(target=obs.target).order_by("-started_at").first()
    if last is not None and now - (last.resolved_at or last.started_at) < timedelta(minutes=rule.cooldown_minutes):
        return 0
    try:
        with transaction.atomic():
            event = AlertEvent.objects.create(
                rule=rule, target=obs.target, value=obs.value, message=obs.message[:300], started_at=now, last_seen_at=now
            )
            AlertOccurrence.objects.create(event=event, at=now, message=event.message, value=obs.value)
            event_emit_on_commit("alert.changed", event.pk)
    except IntegrityError:  # another evaluator fired it first
        return 0
    logger.warning("alert firing: %s", obs.message)
    return 1


def _resolve(event: AlertEvent, now: datetime) -> int:
    with transaction.atomic():
        won = AlertEvent.objects.filter(pk=event.pk, state=AlertEvent.State.FIRING).update(
            state=AlertEvent.State.RESOLVED, resolved_at=now
        )
        if won:
            event_emit_on_commit("alert.changed", event.pk)
    if won:
        logger.info("alert resolved: %s [%s]", event.rule.name, event.target)
    return won


def _recur(event: AlertEvent, obs: Observation, now: datetime) -> None:
    """One more report of an open event's cause: count it, keep it in the history, follow a changed sentence."""
    message = obs.message[:300]
    with transaction.atomic():
        locked = AlertEvent.objects.select_for_update().filter(pk=event.pk, state=AlertEvent.State.FIRING).first()
        if locked is None:  # resolved meanwhile: this report is history of a closed event, not a new alert
            return
        changed = locked.message != message
        locked.count += 1
        locked.last_seen_at = now
        locked.message, locked.value = message, obs.value
        locked.save(update_fields=["count", "last_seen_at", "message", "value"])
        AlertOccurrence.objects.create(event=locked, at=now, message=message, value=obs.value)
        if changed:
            event_emit_on_commit("alert.changed", locked.pk)
    if changed:
        logger.warning("alert cause changed (%s times): %s", locked.count, message)


def alert_raise(*, key: str, summary: str, severity: str = "warning") -> bool:
    """Raise an alert from code (e.g. a venue refused our API key). One open event per key: raised again while open,
    it counts the occurrence, keeps it in the history and follows a changed cause (`_recur`); a resolved one is not
    raised again within the rule's cooldown. Resolves on its own a window after its last report. Returns whether a
    new event fired."""
    rule, _ = AlertRule.objects.get_or_create(
        name=RAISED_RULE, defaults={"metric": "raised", "window_minutes": 60, "cooldown_minutes": 60}
    )
    if not rule.enabled:
        return False
    message = summary if severity == "warning" else f"[{severity}] {summary}"
    obs = Observation(key[:64], Decimal(1), True, message)
    now = timezone.now()
    open_event = rule.events.filter(target=obs.target, state=AlertEvent.State.FIRING).first()
    if open_event is None and _fire(rule, obs, now):
        return True
    open_event = open_event or rule.events.filter(target=obs.target, state=AlertEvent.State.FIRING).first()
    if open_event is not None:  # open already, or another process fired it a moment ago
        _recur(open_event, obs, now)
    return False
