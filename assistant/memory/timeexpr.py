"""Time expressions in queries ("last week", "in May 2023", "2022", "3 days ago") as date ranges.

Relative expressions are resolved against `as_of` (the moment the question is asked). The result is
a half-open range [start, end) of dates, matched against each memory's `occurred_at`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_MONTHS = {name.lower(): index for index, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): index for index, name in enumerate(calendar.month_abbr) if name})
_MONTH = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_YEAR = r"((?:19|20)\d\d)"
_UNITS = {"day": 1, "week": 7, "month": 30, "year": 365}
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


@dataclass(frozen=True)
class TimeRange:
    start: date
    end: date  # exclusive
    phrase: str

    def contains(self, moment: date) -> bool:
        return self.start <= moment < self.end

    def distance_days(self, moment: date) -> int:
        if self.contains(moment):
            return 0
        if moment < self.start:
            return (self.start - moment).days
        return (moment - self.end).days + 1


def _month_range(year: int, month: int) -> tuple[date, date]:
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    return start, end


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def parse_time_range(text: str, as_of: date | None = None) -> TimeRange | None:
    """The first time expression in `text`, or None."""
    today = as_of or date.today()
    lowered = text.lower()

    match = re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+{_YEAR}\b", lowered)
    if match:
        try:
            day = date(int(match.group(3)), _MONTHS[match.group(2)[:3]], int(match.group(1)))
            return TimeRange(day, day + timedelta(days=1), match.group(0))
        except ValueError:
            pass
    match = re.search(rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+{_YEAR}\b", lowered)
    if match:
        try:
            day = date(int(match.group(3)), _MONTHS[match.group(1)[:3]], int(match.group(2)))
            return TimeRange(day, day + timedelta(days=1), match.group(0))
        except ValueError:
            pass
    match = re.search(rf"\b{_MONTH},?\s+(?:of\s+)?{_YEAR}\b", lowered)
    if match:
        start, end = _month_range(int(match.group(2)), _MONTHS[match.group(1)[:3]])
        return TimeRange(start, end, match.group(0))
    match = re.search(rf"\b(?:in|during|of|since|from)?\s*{_YEAR}\b", lowered)
    if match:
        year = int(match.group(1))
        return TimeRange(date(year, 1, 1), date(year + 1, 1, 1), match.group(0).strip())

    if re.search(r"\byesterday\b", lowered):
        day = today - timedelta(days=1)
        return TimeRange(day, today, "yesterday")
    if re.search(r"\btoday\b", lowered):
        return TimeRange(today, today + timedelta(days=1), "today")
    match = re.search(r"\b(last|this|past|previous)\s+(week|month|year|weekend)\b", lowered)
    if match:
        which, unit = match.groups()
        if unit in ("week", "weekend"):
            start = _week_start(today)
            if which != "this":
                start -= timedelta(days=7)
            return TimeRange(start, start + timedelta(days=7), match.group(0))
        if unit == "month":
            year, month = today.year, today.month
            if which != "this":
                year, month = (year - 1, 12) if month == 1 else (year, month - 1)
            start, end = _month_range(year, month)
            return TimeRange(start, end, match.group(0))
        year = today.year - (which != "this")
        return TimeRange(date(year, 1, 1), date(year + 1, 1, 1), match.group(0))
    match = re.search(
        r"\b(\d+|a|an|one|two|three|four|five|six)\s+(day|week|month|year)s?\s+ago\b", lowered
    )
    if match:
        amount = _NUMBERS.get(match.group(1)) or int(match.group(1))
        days = amount * _UNITS[match.group(2)]
        centre = today - timedelta(days=days)
        slack = timedelta(days=max(1, days // 4))
        return TimeRange(centre - slack, centre + slack + timedelta(days=1), match.group(0))
    match = re.search(rf"\b(?:in|during|last)\s+{_MONTH}\b", lowered)
    if match:
        month = _MONTHS[match.group(1)[:3]]
        year = today.year if month <= today.month else today.year - 1
        start, end = _month_range(year, month)
        return TimeRange(start, end, match.group(0))
    return None


def memory_date(occurred_at: str) -> date | None:
    try:
        return datetime.fromisoformat(occurred_at).date()
    except ValueError:
        return None
