"""Data contracts: Great Expectations suites (JSON, one file per suite) and the code that builds their input frames.

A suite's ``meta.corpus_etl.frame`` says which frame it checks: ``shard`` (one row per kept document of one output
shard, numbers only) or ``run`` (one row of run-level aggregates). See ``expectations.frames``.
"""

from __future__ import annotations

from pathlib import Path

SUITES_DIR = Path(__file__).resolve().parent
