"""One run, end to end: plan -> Beam pipeline -> reconcile counts -> validate -> report -> commit manifest.

The pipeline writes only under OUT/_staging/<run>; everything after it (checks, validation, report, commit) runs in
the driver on the small per-unit results, so the same code commits for a local or a distributed runner.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from etl.ingest.input_files import is_local_fs, local_path
from etl.ingest.overlap import check_inputs_outside_output
from etl.ingest.plan import plan_units
from etl.ingest.sources import expand_inputs
from etl.local_runner import pool
from etl.local_runner import processes as unit_pool
from etl.run.incremental import choose_inputs, empty_stage_counts, nothing_to_validate
from etl.run.pipeline import build_pipeline
from etl.run.progress import namespace_counters, stage_counters
from etl.run.reachability import check_reachable
from etl.run.runner import is_local_runner, pipeline_options
from etl.run.unit_work import MODULES, unit_result_path
from etl.store import lease
from etl.store import manifest as mf
from etl.store.parents import Parent, check_compatible, check_not_output, load_parents
from etl.store.replace import check_replacement, committed_manifest, keep_created_at

log = logging.getLogger("corpus_etl")


@dataclass
class RunResult:
    manifest: dict
    output: str
    seconds: float
    input_bytes: int
    # The committed version this run replaced (--overwrite), etl/store/replace.py.
    replaced: dict | None = None

    @property
    def ok(self) -> bool:
        # `success` is the verdict after the policy (warn passes; quarantine passes unless the run suite fails).
        return bool(self.manifest["validation"].get("success"))


def _read_unit_results(staging: str, n_units: int) -> list[dict]:
    results = []
    for i in range(n_units):
        path = unit_result_path(staging, i)
        try:
            with fsspec.open(path, "r") as fh:
                results.append(json.load(fh))
        except FileNotFoundError:
            raise RuntimeError(
                f"work unit {i} wrote no result ({path}): the pipeline did not finish it"
            ) from None
    return results


def _read_stats(stats: list[tuple[dict, str]], shards: list[tuple[dict, str]]) -> dict[str, pa.Table]:
    tables = {}
    for (stat_file, _), (_, shard_rel) in zip(stats, shards, strict=True):
        with fsspec.open(stat_file["path"], "rb") as fh:
            tables[shard_rel] = pq.read_table(fh)
    return tables


def _validate(config, stats_by_shard: dict[str, pa.Table], draft: dict, staging: str) -> dict:
    """Run the suites; Data Docs are built into staging when it is on local disk (GE writes them locally)."""
    from etl.validation import validate_outputs

    fs, path = fsspec.core.url_to_fs(staging)
    docs_dir = f"{path}/validation/data_docs" if is_local_fs(fs) and config.validation.enabled else None
    result = validate_outputs(stats_by_shard, draft, config.validation, data_docs_dir=docs_dir)
    if result.get("data_docs"):
        # Where the commit puts them: the run's own staging name must not reach the manifest.
        out_path = path.rsplit("/_staging/", 1)[0]
        result["data_docs"] = f"{out_path}/validation/data_docs/index.html"
    return result


def _staged_tree(staging: str, sub: str) -> list[tuple[str, str]]:
    """(staged URL, final relative path) of every file under staging/sub, for the commit."""
    fs, root = fsspec.core.url_to_fs(staging)
    base = f"{root.rstrip('/')}/{sub}"
    if not fs.exists(base):
        return []
    return [(f, f"{sub}/{f[len(base) + 1 :]}") for f in sorted(fs.find(base))]


def _write_report(
    staging: str,
    manifest: dict,
    reject_paths: list[str],
    stats_by_shard: dict[str, pa.Table],
    signal_paths: list[str] = (),
    shard_paths: list[str] = (),
) -> None:
    from etl.report import load_reject_files, render_report
    from etl.report.files import load_signal_files

    stats = (
        pa.concat_tables(list(stats_by_shard.values()), promote_options="default") if stats_by_shard else None
    )
    # The threshold curves' sample documents are read from the rejects and shards (only with signals).
    signals = load_signal_files(list(signal_paths), stats, manifest["config"], [*reject_paths, *shard_paths])
    html = render_report(
        manifest, load_reject_files(reject_paths, preview=600), stats, manifest["validation"], signals=signals
    )
    with fsspec.open(f"{staging}/report/index.html", "w", encoding="utf-8") as fh:
        fh.write(html)


def _fresh_staging(out: str, owner: str) -> str:
    """This run's own staging folder; the folders of earlier, dead runs go (the lease says none is live)."""
    fs, root = fsspec.core.url_to_fs(f"{out}/_staging")
    if fs.exists(root):
        for old in fs.ls(root, detail=False):
            fs.rm(old, recursive=True)
    staging = f"{out}/_staging/{owner}"
    fs.makedirs(f"{root}/{owner}", exist_ok=True)
    return staging


def _remove_tree(url: str) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    if fs.exists(path):
        fs.rm(path, recursive=True)


def _remove_staging(out: str, staging: str) -> None:
    _remove_tree(staging)
    fs, parent = fsspec.core.url_to_fs(f"{out}/_staging")
    if fs.exists(parent) and not fs.ls(parent, detail=False):
        fs.rm(parent, recursive=True)


def _missing_folders(out: str) -> list[Path]:
    """The local folders that taking the lease creates (OUT and its missing parents), deepest first."""
    local = local_path(out)
    missing: list[Path] = []
    path = Path(local).absolute() if local is not None else None
    while path is not None and not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove these folders, deepest first, while they are empty: never a folder that holds anything (a
    committed run, another run's lease)."""
    for folder in folders:
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:  # not empty (or not ours to remove): nor are its parents
            return


def _remove_failed_staging(staging: str | None) -> None:
    """The staging of a run that failed before its commit, so that a refused or failed run leaves nothing
    behind (the next run would remove it, but there may be none). Never another run's staging folder."""
    if staging is None:
        return
    fs, path = fsspec.core.url_to_fs(staging)
    try:
        if is_local_fs(fs):
            shutil.rmtree(path, ignore_errors=True)  # the scratch thread may be deleting in it too
            with contextlib.suppress(OSError):
                os.rmdir(path.rsplit("/", 1)[0])  # _staging/, only when empty
        else:
            _remove_tree(staging)
    except Exception as err:  # noqa: BLE001 - a clean-up must not hide the error that ended the run
        log.warning(
            "%s: this failed run's staging was not removed (%s); the next run removes it", staging, err
        )


def _remove_scratch(staging: str) -> threading.Thread:
    """Remove what only the pipeline read (decompressed chunks, spilled shuffles: gigabytes in thousands of
    files, 10 s to delete at 4 GB of text) on a thread, while validation and the report keep the driver busy."""

    def remove() -> None:
        for name in ("spill", "shuffle"):
            _remove_tree(f"{staging}/{name}")

    thread = threading.Thread(target=remove, name="remove-scratch", daemon=True)
    thread.start()
    return thread


def _in_process(options) -> bool:
    """The local runner with its one in-process worker: the passes then spread their units over a pool."""
    from apache_beam.options.pipeline_options import DirectOptions

    return is_local_runner(options) and options.view_as(DirectOptions).direct_running_mode == "in_memory"


def _import_validation_meanwhile() -> None:
    """Import Great Expectations (about 3 s) on a thread while the workers run, when the pipeline's work is
    not in this process (a pool or another runner's workers): the driver is idle then, and validation needs
    it right after."""

    def load() -> None:
        for name in ("etl.validation", "great_expectations"):  # etl.validation imports GE only when used
            importlib.import_module(name)

    threading.Thread(target=load, daemon=True).start()


def _execute(units: list, config, staging: str, beam_args, parents: list[Parent]) -> list[dict]:
    options = pipeline_options(beam_args)
    in_process = _in_process(options)
    processes = unit_pool.pool_processes(in_process, len(units), sum(u.bytes for u in units))
    if processes:
        log.info("work units run in %d worker processes", processes)
    if config.validation.enabled and (processes or not in_process):
        _import_validation_meanwhile()
    p = beam.Pipeline(options=options)
    build_pipeline(p, units, config, staging, parents, processes, spill=in_process)
    try:
        beam_result = p.run()
        beam_result.wait_until_finish()
    finally:
        pool.shutdown()
    counters = stage_counters(beam_result)
    if config.near_dedup.enabled:
        log.debug("near dedup steps: %s", json.dumps(namespace_counters(beam_result, "near_dedup")))
    log.debug("beam counters: %s", json.dumps(counters), extra={"fields": {"counters": counters}})
    return _read_unit_results(staging, len(units))


def _entries(named: list[tuple[dict, str]], tokens: bool) -> list[dict]:
    keys = ("rows", "tokens", "bytes", "sha256") if tokens else ("rows", "bytes", "sha256")
    return [{"path": rel, **{k: f[k] for k in keys}} for f, rel in named]


def _assemble(
    config, selection, units, results, tokenizer, staging, beam_args, parents, previous=None
) -> tuple[dict, list, list]:
    """The manifest to commit, the dataset's moves and the moves of what no reader trusts (report, docs)."""
    names = mf.final_names(results, mf.version_id(results, config.hash()))
    kept = sum(f["rows"] for f, _ in names["shards"])
    stages = mf.merge_stage_counts(results) or empty_stage_counts(config)  # none: every input skipped
    problems = mf.reconcile(stages, kept)
    if problems:
        raise mf.ReconcileError("counts do not reconcile: " + "; ".join(problems))
    counts = mf.count_summary(stages, kept)
    shard_entries = _entries(names["shards"], tokens=True)
    stats_by_shard = _read_stats(names["stats"], names["shards"])
    draft = mf.build_manifest(
        config, selection.entries(), tokenizer, counts, shard_entries, _entries(names["rejects"], False), {}, [],
        stats=_entries(names["stats"], False),
    )  # fmt: skip
    if units:
        validation = _validate(config, stats_by_shard, draft, staging)
    else:
        validation = nothing_to_validate(config.validation.policy)
    quarantined = set(validation.get("quarantine", []))
    draft["shards"] = [s for s in shard_entries if s["path"] not in quarantined]
    draft["quarantine"] = [
        dict(s, path=s["path"].replace("shards/", "quarantine/", 1))
        for s in shard_entries
        if s["path"] in quarantined
    ]
    draft["validation"] = validation
    draft["parents"] = [p.entry() for p in parents]
    if config.quality.writes_signals():  # every document's quality signals (issue 23); absent otherwise
        draft["signals"] = _entries(names["signals"], False)
    draft["index"] = [
        {"path": rel, "kind": f["kind"], "rows": f["rows"], "bytes": f["bytes"], "sha256": f["sha256"]}
        for f, rel in names["index"]
    ]
    # Only facts that a rerun reproduces: the manifest is byte-identical across reruns except created_at.
    draft["run"] = {
        "work_units": len(units),
        "input_files": len(selection.processed),
        "input_bytes": sum(b for _, b in selection.processed),
        "skipped_inputs": len(selection.skipped),  # --incremental: already processed by a parent
        "skipped_bytes": selection.skipped_bytes,
        "text_bytes": stages["read"]["in_bytes"],
        "beam_args": list(beam_args),
    }
    moves = [
        (f["path"], rel.replace("shards/", "quarantine/", 1) if rel in quarantined else rel)
        for f, rel in names["shards"]
    ]
    moves += [(f["path"], rel) for kind in ("stats", "rejects", "signals", "index") for f, rel in names[kind]]
    keep_created_at(previous, draft)  # before the report, which shows it: an idempotent rerun changes no byte
    _write_report(
        staging, draft, [f["path"] for f, _ in names["rejects"]], stats_by_shard,
        [f["path"] for f, _ in names["signals"]], [f["path"] for f, _ in names["shards"]],
    )  # fmt: skip
    after = [(f"{staging}/report/index.html", "report/index.html"), *_staged_tree(staging, "validation")]
    return draft, moves, after


def preflight(inputs: list[str], out: str, config, beam_args) -> list[Parent]:
    """The checks a run makes before it takes its output's lease, and so does its dry run: each fault here is
    a usage error (exit 2) before any work. Returns the parents (`--against`)."""
    check_reachable(inputs, out, beam_args)
    unit_pool.requested()  # a bad CORPUS_ETL_PROCESSES
    check_inputs_outside_output(inputs, out)
    parents = load_parents(config.incremental.against)
    check_compatible(parents, config)
    check_not_output(parents, out)
    check_rule_files(config)  # a benchmark or domain list that cannot be read
    return parents


def check_rule_files(config) -> None:
    """Read the benchmarks, domain lists and classifier models once here: a bad file is a usage error naming
    it (exit 2), not a worker's failure, and an in-process worker then finds them already loaded."""
    from transforms.decontamination_stage import benchmark_index
    from transforms.quality.classifiers import preflight as load_classifiers
    from transforms.url_filter import load_domains

    if config.decontamination.enabled:
        benchmark_index(config.decontamination)
    if config.url_filter.enabled:
        for files in (config.url_filter.blocklist, config.url_filter.allowlist):
            load_domains(files)
    if config.quality.enabled:
        load_classifiers(config.quality.classifiers)  # a model that is missing, or lacks the label


def run_pipeline(
    inputs: list[str],
    output: str,
    config,
    beam_args: list[str] | tuple[str, ...] = (),
    overwrite: bool = False,
) -> RunResult:
    """Run and commit, holding the output's lease throughout (docs/failures.md). A committed version of
    other inputs or config at `output` is replaced only with `overwrite` (etl/store/replace.py)."""
    started = time.time()
    out = output.rstrip("/")
    parents = preflight(inputs, out, config, beam_args)
    missing = _missing_folders(out)
    held = lease.acquire(out)
    staging = None  # this run's staging once made; None again once its commit begins (the protocol owns it)
    try:
        files = expand_inputs(inputs)
        check_inputs_outside_output(inputs, out, [url for url, _ in files])
        selection = choose_inputs(files, config, parents)
        previous = committed_manifest(out)
        replaced = check_replacement(
            previous, out, config.to_dict(), config.hash(), selection.entries(), overwrite
        )
        staging = _fresh_staging(out, held.owner)
        local = _in_process(pipeline_options(beam_args))
        pool.warm(unit_pool.early_processes(local, sum(b for _, b in selection.processed)), MODULES)
        units = plan_units(
            selection.processed, config.input.unit_bytes, config.input.format, f"{staging}/spill"
        )

        from transforms.tokenize import load_tokenizer_info

        tokenizer = load_tokenizer_info(config.tokenize)  # fail early on a bad tokenizer, before any work
        # DEBUG: the summary says as much at the end, and a long run's progress (bar or lines) from the start.
        log.debug("run: %d files in %d work units -> %s", len(selection.processed), len(units), out)
        results = _execute(units, config, staging, beam_args, parents) if units else []
        scratch = _remove_scratch(staging)
        draft, moves, after = _assemble(
            config, selection, units, results, tokenizer, staging, beam_args, parents, previous
        )
        held.check()
        committing, staging = staging, None
        mf.commit(out, moves, draft, after)
        scratch.join()
        _remove_staging(out, committing)
    finally:
        pool.shutdown()  # a pool warmed for a run that failed before its passes
        _remove_failed_staging(staging)
        held.release()
        _remove_empty(missing)  # a run refused or failed before its commit leaves no empty OUT behind
    return RunResult(draft, out, time.time() - started, draft["run"]["input_bytes"], replaced)
