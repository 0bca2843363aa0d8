"""Timestamps in the exact shapes ARM and Event Grid put on the wire."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def arm_timestamp(moment: datetime | None = None) -> str:
    """ARM's 7-digit fractional-second UTC form, e.g. ``2026-11-21T09:30:12.4471250Z``.

    ARM (systemData, Event Grid ``eventTime``, async-operation ``startTime``) serialises .NET
    DateTime ticks, hence seven digits; Python has microseconds, so the last digit is always 0.
    """
    moment = (moment or utc_now()).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"
