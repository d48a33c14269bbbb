"""Snakemake's run log read back: when each job started and finished (the default-run benchmark, tests).

Snakemake prints a timestamp line, then ``rule <name>:`` (or ``localrule``) with the job's
``jobid:``, when it starts a job, and a timestamp, then ``Finished jobid: <id>``, when it ends.
Timestamps have one-second resolution; the order of the lines is exact, so overlap is judged from it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

_TIME = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_RULE = re.compile(r"^(?:local)?rule (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+)")


@dataclass
class JobSpan:
    """One job: its rule, id and wildcards, when it started and ended, and where in the log (line order)."""

    rule: str
    jobid: int
    start: datetime
    start_line: int
    wildcards: str = ""
    end: datetime | None = None
    end_line: int | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds()


def job_spans(log: str) -> list[JobSpan]:
    """Every job the log started, in the order it started them (``end`` None if it never finished)."""
    spans: dict[int, JobSpan] = {}
    now: datetime | None = None
    rule: str | None = None
    current: JobSpan | None = None  # the job whose block is being read
    for number, line in enumerate(log.splitlines()):
        if stamp := _TIME.match(line):
            now, current = datetime.strptime(" ".join(stamp[1].split()), "%a %b %d %H:%M:%S %Y"), None
        elif started := _RULE.match(line):
            rule = started[1]
        elif rule and now and (job := _JOBID.match(line)):
            current = spans[int(job[1])] = JobSpan(rule, int(job[1]), now, number)
        elif current and (wildcards := _WILDCARDS.match(line)):
            current.wildcards = wildcards[1]
        elif now and (finished := _FINISHED.match(line)) and int(finished[1]) in spans:
            span = spans[int(finished[1])]
            span.end, span.end_line = now, number
        if not line.strip():
            rule = current = None
    return sorted(spans.values(), key=lambda s: s.start_line)


def most_at_once(spans: list[JobSpan], *rules: str) -> int:
    """The most jobs of ``rules`` started and not yet finished at one point of the log."""
    events = sorted(
        [(s.start_line, 1) for s in spans if s.rule in rules]
        + [(s.end_line, -1) for s in spans if s.rule in rules and s.end_line is not None]
    )
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def stage_times(spans: list[JobSpan]) -> dict[str, dict[str, float]]:
    """Per rule, in the order rules first started: jobs, the sum of their seconds and the wall span
    from the first start to the last end."""
    by_rule: dict[str, list[JobSpan]] = defaultdict(list)
    for span in spans:
        by_rule[span.rule].append(span)
    stages = {}
    for rule, jobs in by_rule.items():
        ended = [j for j in jobs if j.end is not None]
        if not ended:
            continue
        first, last = min(j.start for j in jobs), max(j.end for j in ended)
        stages[rule] = {
            "jobs": len(jobs),
            "job_seconds": sum(j.seconds for j in ended),
            "wall_seconds": (last - first).total_seconds(),
        }
    return stages
