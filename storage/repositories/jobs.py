"""The timed jobs' own state (job_runs): when each last ran."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import JobRun


def run_of(session: Session, job_id: str) -> JobRun | None:
    return session.scalar(select(JobRun).where(JobRun.job_id == job_id))
