"""The monthly report's figures: one pure function, shared by the API and the PDF.

``GET /api/v1/reports/monthly`` returns exactly what ``hazgate report monthly`` prints and
draws, so the two cannot disagree.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Final

from pydantic import BaseModel, ConfigDict

from hazgate.settings import RiskIndexSettings
from risk.index import IndexRow, MonthRecords, compute_index, distribution

# The report lists this many of the lowest-scoring carriers.
REDDEST: Final = 10


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReasonCount(_Frozen):
    code: str
    count: int


class GateFigures(_Frozen):
    entries: int  # gate decisions of the month: pass + fail + review
    passed: int
    failed: int
    review: int
    overridden: int
    admitted: int  # after officers' overrides
    failure_rate_pct: float
    failures_by_reason: list[ReasonCount]  # one count per failed entry and reason


class AlertKind(_Frozen):
    kind: str
    count: int
    acknowledged: int
    median_ack_min: float | None
    p90_ack_min: float | None


class AlertFigures(_Frozen):
    total: int
    by_severity: dict[str, int]
    by_kind: list[AlertKind]
    unacknowledged: int
    median_ack_min: float | None


class Distribution(_Frozen):
    green: int
    yellow: int
    red: int


class RankedCarrier(_Frozen):
    id: str
    name: str | None
    score: float
    grade: str
    top_deduction: str | None


class IndexFigures(_Frozen):
    carriers: Distribution
    vehicles: Distribution
    drivers: Distribution
    reddest_carriers: list[RankedCarrier]


class MonthlyFigures(_Frozen):
    site: str
    month: str
    gate: GateFigures
    alerts: AlertFigures
    index: IndexFigures


def _p90(values: Sequence[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def _minutes(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return round(statistics.median(values), 1), round(_p90(values), 1)


def gate_figures(records: MonthRecords) -> GateFigures:
    results = Counter(i.result for i in records.inspections)
    reasons: Counter[str] = Counter()
    for i in records.inspections:
        if i.result == "fail":
            reasons.update({r.code for r in i.reasons})
    entries = len(records.inspections)
    admitted = sum(1 for i in records.inspections if (i.override_result or i.result) == "pass")
    return GateFigures(
        entries=entries,
        passed=results["pass"],
        failed=results["fail"],
        review=results["review"],
        overridden=sum(1 for i in records.inspections if i.override_result is not None),
        admitted=admitted,
        failure_rate_pct=round(100 * results["fail"] / entries, 1) if entries else 0.0,
        failures_by_reason=[
            ReasonCount(code=c, count=n) for c, n in sorted(reasons.items(), key=lambda x: (-x[1], x[0]))
        ],
    )


def alert_figures(records: MonthRecords) -> AlertFigures:
    by_kind: dict[str, list[float | None]] = {}
    for a in records.alerts:
        ack = (a.acknowledged_at - a.at).total_seconds() / 60 if a.acknowledged_at else None
        by_kind.setdefault(a.rule_kind, []).append(ack)
    kinds = []
    for kind, acks in sorted(by_kind.items(), key=lambda x: (-len(x[1]), x[0])):
        done = [x for x in acks if x is not None]
        median, p90 = _minutes(done)
        kinds.append(
            AlertKind(kind=kind, count=len(acks), acknowledged=len(done), median_ack_min=median, p90_ack_min=p90)
        )
    all_acks = [x for acks in by_kind.values() for x in acks if x is not None]
    return AlertFigures(
        total=len(records.alerts),
        by_severity=dict(sorted(Counter(a.severity for a in records.alerts).items())),
        by_kind=kinds,
        unacknowledged=sum(1 for a in records.alerts if a.acknowledged_at is None),
        median_ack_min=_minutes(all_acks)[0],
    )


def _dist(rows: Sequence[IndexRow]) -> Distribution:
    return Distribution(**distribution(rows))


def monthly_figures(records: MonthRecords, cfg: RiskIndexSettings) -> MonthlyFigures:
    carriers = compute_index("carrier", records, cfg)
    reddest = [
        RankedCarrier(
            id=r.id,
            name=r.name,
            score=r.score,
            grade=r.grade,
            top_deduction=max(r.deductions, key=lambda d: (d.points, d.code)).code if r.deductions else None,
        )
        for r in carriers[:REDDEST]
    ]
    return MonthlyFigures(
        site=records.site,
        month=records.month,
        gate=gate_figures(records),
        alerts=alert_figures(records),
        index=IndexFigures(
            carriers=_dist(carriers),
            vehicles=_dist(compute_index("vehicle", records, cfg)),
            drivers=_dist(compute_index("driver", records, cfg)),
            reddest_carriers=reddest,
        ),
    )
