"""Run the Great Expectations suites of a run and decide what the validation policy makes of the result.

``validate_outputs`` checks each output shard's statistics frame with the ``shard`` suites (one GE validation per
shard) and the run's aggregate row with the ``run`` suites, optionally building GE Data Docs, and returns a plain,
JSON-ready dict for the manifest and the report. Policies: ``fail`` (the run fails), ``warn`` (it passes with
warnings), ``quarantine`` (failing shards are listed to be set aside; a failing run suite still fails).
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from etl.config import ValidationConfig
from expectations import SUITES_DIR
from expectations.frames import run_aggregate_frame, shard_frame

DATA_DOCS_SITE = "corpus_etl"
_COLUMN_KEYS = ("column", "column_A", "column_B")


class SuiteError(ValueError):
    """A suite reference or suite file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Suite:
    name: str
    frame: str  # "shard" or "run": which frame the suite checks
    required_columns: frozenset[str]
    expectations: tuple[dict, ...]
    source: str


def load_suite(ref: str) -> Suite:
    """A suite by name (``expectations/<name>.json``) or by path to a GE 1.x ExpectationSuite JSON file."""
    path = Path(ref) if (ref.endswith(".json") or "/" in ref) else SUITES_DIR / f"{ref}.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.json")))
        raise SuiteError(f"validation.suites: {ref!r}: no file {path} (bundled suites: {known})") from None
    except json.JSONDecodeError as err:
        raise SuiteError(f"{path}: not valid JSON: {err}") from None
    ours = (doc.get("meta") or {}).get("corpus_etl") or {}
    frame = ours.get("frame")
    if frame not in ("shard", "run"):
        raise SuiteError(f"{path}: meta.corpus_etl.frame must be 'shard' or 'run', got {frame!r}")
    return Suite(
        name=doc.get("name") or path.stem,
        frame=frame,
        required_columns=frozenset(ours.get("required_columns") or ()),
        expectations=tuple(doc.get("expectations") or ()),
        source=str(path),
    )


def _columns_of(expectation: dict) -> list[str]:
    kwargs = expectation.get("kwargs") or {}
    return [kwargs[k] for k in _COLUMN_KEYS if k in kwargs]


def _entry(index: int, expectation: dict, success: bool | None, observed: Any, **extra: Any) -> dict:
    return {
        "index": index,
        "expectation_type": expectation["type"],
        "kwargs": dict(expectation.get("kwargs") or {}),
        "success": success,
        "observed_value": observed,
        "why": (expectation.get("meta") or {}).get("why"),
        **extra,
    }


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        value = value.item()  # numpy scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


class _GreatExpectations:
    """One ephemeral GE context per call: a pandas data source, one ValidationDefinition per suite variant."""

    def __init__(self, data_docs_dir: str | None):
        import great_expectations as gx  # lazy: the import alone costs ~5 s
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # GE logs routine steps (temporary folders, stores) at INFO; the run's own log should not carry them.
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.data_docs_dir = data_docs_dir
        if data_docs_dir:
            self.context.add_data_docs_site(
                DATA_DOCS_SITE,
                {
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(Path(data_docs_dir).resolve()),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        asset = self.context.data_sources.add_pandas("corpus_etl").add_dataframe_asset("stats")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("frame")
        self.run_time = datetime.datetime.now(datetime.UTC)
        self._definitions: dict[tuple, Any] = {}

    def _definition(self, suite: Suite, expectations: list[tuple[int, dict]]) -> Any:
        key = (suite.name, tuple(i for i, _ in expectations))
        if key not in self._definitions:
            variant = sum(1 for k in self._definitions if k[0] == suite.name)
            name = suite.name if variant == 0 else f"{suite.name}-{variant}"
            configs = []
            for index, expectation in expectations:
                config = copy.deepcopy(expectation)
                config.setdefault("meta", {})["index"] = index
                configs.append(config)
            gx_suite = self.context.suites.add(
                self.gx.ExpectationSuite(name=name, expectations=configs, meta={"source": suite.source})
            )
            self._definitions[key] = self.context.validation_definitions.add(
                self.gx.ValidationDefinition(name=name, data=self.batch_definition, suite=gx_suite)
            )
        return self._definitions[key]

    def validate(
        self, suite: Suite, expectations: list[tuple[int, dict]], frame, run_name: str
    ) -> list[dict]:
        from great_expectations.core.run_identifier import RunIdentifier

        definition = self._definition(suite, expectations)
        safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", run_name)
        result = definition.run(
            batch_parameters={"dataframe": frame},
            run_id=RunIdentifier(run_name=safe_name, run_time=self.run_time),
            result_format="SUMMARY",
        )
        by_index = dict(expectations)
        entries = []
        for r in result.results:
            index = r.expectation_config.meta["index"]
            entries.append(_result_entry(index, by_index[index], r))
        return entries

    def build_docs(self) -> None:
        if self.data_docs_dir:
            self.context.build_data_docs(site_names=[DATA_DOCS_SITE])


def _result_entry(index: int, expectation: dict, r: Any) -> dict:
    res = r.result or {}
    extra: dict[str, Any] = {}
    observed = res.get("observed_value")
    if "unexpected_count" in res:
        examples = _jsonable(list(res.get("partial_unexpected_list") or [])[:5])
        extra = {"unexpected_count": res["unexpected_count"], "element_count": res.get("element_count")}
        observed = _unexpected_text(res["unexpected_count"], res.get("element_count"), examples)
    info = r.exception_info or {}
    if info.get("raised_exception"):
        extra["exception"] = info.get("exception_message")
    return _entry(index, expectation, bool(r.success), _jsonable(observed), **_jsonable(extra))


def _unexpected_text(unexpected: int, total: int | None, examples: list | None = None) -> str:
    text = f"{unexpected} of {total} rows unexpected"
    return text + (f" (e.g. {', '.join(map(str, examples))})" if unexpected and examples else "")


def _run_suite(ge: _GreatExpectations, suite: Suite, frame, run_name: str) -> list[dict]:
    """All expectations of a suite in suite order: run by GE, or decided here when their column is absent."""
    columns = set(frame.columns)
    runnable, decided = [], []
    for index, expectation in enumerate(suite.expectations):
        missing = [c for c in _columns_of(expectation) if c not in columns]
        if not missing:
            runnable.append((index, expectation))
        elif any(c in suite.required_columns for c in missing):
            decided.append(_entry(index, expectation, False, f"column {missing[0]} missing"))
        else:  # the stage that computes this column did not run
            decided.append(_entry(index, expectation, None, "n/a (column absent)"))
    ran = ge.validate(suite, runnable, frame, run_name) if runnable else []
    return sorted(ran + decided, key=lambda e: e["index"])


def _merge_shard_results(per_shard: dict[str, list[dict]]) -> list[dict]:
    """One entry per expectation over all shards: the first failure's observation, else the extreme value."""
    merged = []
    for entries in zip(*per_shard.values(), strict=True):
        shards = list(per_shard)
        applied = [(s, e) for s, e in zip(shards, entries, strict=True) if e["success"] is not None]
        failed = [(s, e) for s, e in applied if not e["success"]]
        out = {k: v for k, v in entries[0].items() if k not in ("unexpected_count", "element_count")}
        out["success"] = None if not applied else not failed
        out["failed_shards"] = [s for s, _ in failed]
        if failed:
            out["shard"], out["observed_value"] = failed[0][0], failed[0][1]["observed_value"]
        elif applied:
            out["observed_value"] = _summarise([e for _, e in applied])
        merged.append(out)
    return merged


def _summarise(entries: list[dict]) -> Any:
    if all("unexpected_count" in e for e in entries):
        return _unexpected_text(
            sum(e["unexpected_count"] for e in entries), sum(e["element_count"] or 0 for e in entries)
        )
    values = [e["observed_value"] for e in entries]
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != len(values):
        return values[0]
    kind = entries[0]["expectation_type"]
    if "_min_" in kind:
        return min(numbers)
    if "_max_" in kind:
        return max(numbers)
    lo, hi = min(numbers), max(numbers)
    return lo if lo == hi else {"min": lo, "max": hi}


def _describe(suite: str, entry: dict, shard: str | None) -> str:
    kw = entry["kwargs"]
    args = ", ".join(f"{k}={v}" for k, v in kw.items() if k not in ("column",))
    target = kw.get("column", "table")
    where = f" in {shard}" if shard else ""
    return f"{suite}: {entry['expectation_type']}({target}{', ' + args if args else ''}) observed {entry['observed_value']}{where}"


def validate_outputs(
    stats_by_shard: Mapping[str, pa.Table],
    draft_manifest: Mapping[str, Any],
    config: ValidationConfig,
    data_docs_dir: str | None = None,
) -> dict:
    """Validate every shard's statistics and the run aggregate; apply ``config.policy``.

    ``stats_by_shard`` maps a shard path (as the manifest lists it) to its statistics table. The result's
    ``success`` is the verdict under the policy (exit 0 only when true); ``expectations_passed`` is the raw
    outcome; ``quarantine`` lists the shards to set aside (policy quarantine only).
    """
    result: dict[str, Any] = {
        "success": True,
        "expectations_passed": True,
        "status": "pass",
        "policy": config.policy,
        "suites": {},
        "shards": {path: {"success": True, "failed": []} for path in stats_by_shard},
        "failures": [],
        "warnings": [],
        "quarantine": [],
    }
    if not config.enabled:
        result["status"] = "skipped"
        return result
    suites = [load_suite(ref) for ref in config.suites]
    ge = _GreatExpectations(data_docs_dir)
    run_failed = False
    for suite in suites:
        if suite.frame == "shard":
            per_shard = {
                path: _run_suite(ge, suite, shard_frame(table), f"{suite.name}-{path}")
                for path, table in stats_by_shard.items()
            }
            results = _merge_shard_results(per_shard) if per_shard else []
            for path, entries in per_shard.items():
                failed = [e for e in entries if e["success"] is False]
                shard = result["shards"][path]
                shard["success"] = shard["success"] and not failed
                shard["failed"] += [{"suite": suite.name, **e} for e in failed]
                result["failures"] += [{"suite": suite.name, "shard": path, **e} for e in failed]
        else:
            results = _run_suite(ge, suite, run_aggregate_frame(draft_manifest, stats_by_shard), "run")
            failed = [e for e in results if e["success"] is False]
            run_failed = run_failed or bool(failed)
            result["failures"] += [{"suite": suite.name, "shard": None, **e} for e in failed]
        ok = all(e["success"] is not False for e in results)
        result["suites"][suite.name] = {"success": ok, "frame": suite.frame, "results": results}
    ge.build_docs()
    if data_docs_dir:
        result["data_docs"] = str(Path(data_docs_dir) / "index.html")
    return _apply_policy(result, run_failed)


def _apply_policy(result: dict, run_failed: bool) -> dict:
    failures = result["failures"]
    passed = not failures
    result["expectations_passed"] = passed
    result["warnings"] = [_describe(f["suite"], f, f.get("shard")) for f in failures]
    bad_shards = [p for p, s in result["shards"].items() if not s["success"]]
    policy = result["policy"]
    if policy == "fail":
        result["success"] = passed
    elif policy == "warn":
        result["success"] = True
    else:  # quarantine: shards can be set aside, a failing run aggregate cannot
        result["quarantine"] = bad_shards
        all_bad = bool(bad_shards) and len(bad_shards) == len(result["shards"])
        result["success"] = not run_failed and not all_bad
    result["status"] = "pass" if passed else ("warn" if result["success"] else "fail")
    return result
