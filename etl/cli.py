"""`corpus-etl`: run | demo | report | config | diff | history | export | rejects | show | profile (DESIGN.md "The public interface").

Exit codes: 0 the run committed its manifest and validation passed (or its policy says warn/quarantine);
1 validation failed under policy `fail`; 2 bad usage, config or input (the message names the file or key);
3 the run itself failed (counts did not reconcile, a worker error, a full disk). Every error is one line on
stderr, its traceback in a log file (etl/logs/errors.py); -v, -q, --log-level go before or after the command.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib import resources
from pathlib import Path

from etl import __version__
from etl.config import ConfigError, load_config
from etl.logs import stop_live_bar
from etl.logs.errors import CliParser, check_is_run, report

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = CliParser(prog="corpus-etl", description="Raw text corpora -> training-ready Parquet shards.")
    _log_flags(p, suppress=False)
    p.add_argument("--version", action="version", version=f"corpus-etl {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline", description="Everything after `--` goes to Beam.")
    run.add_argument(
        "--input", action="extend", nargs="+", required=True, metavar="PATTERN",
        help="files, dirs or globs: several after one flag (a shell-expanded glob), and repeatable",
    )  # fmt: skip
    run.add_argument("--output", required=True, metavar="DIR", help="output directory or URL (s3://...)")
    run.add_argument(
        "--against", action="extend", nargs="+", default=[], metavar="MANIFEST",
        help="earlier runs (folders or manifest.json) to deduplicate against; repeatable",
    )  # fmt: skip
    run.add_argument(
        "--incremental", action="store_true",
        help="skip inputs that a run named by --against already processed (by content hash)",
    )  # fmt: skip
    run.add_argument(
        "--overwrite", action="store_true",
        help="replace a committed version of other inputs or config at --output (refused without it)",
    )  # fmt: skip
    _config_args(run)
    _dry_run_arg(run)

    demo = sub.add_parser("demo", help="the bundled sample corpus through the whole flow")
    demo.add_argument("--output", default="demo-out", metavar="DIR")
    _config_args(demo)
    _dry_run_arg(demo)

    report = sub.add_parser("report", help="(re)build and optionally serve OUT/report/index.html")
    report.add_argument("dir", metavar="DIR")
    report.add_argument("--serve", action="store_true", help="serve the report on 127.0.0.1")
    report.add_argument("--port", type=int, default=8765)

    config = sub.add_parser("config", help="print the resolved config as YAML")
    _config_args(config)

    diff = sub.add_parser("diff", help="what changed between two versions: config, counts, documents, shards")
    diff.add_argument("run_a", metavar="RUN_A", help="output folder or its manifest.json (local or URL)")
    diff.add_argument("run_b", metavar="RUN_B")
    diff.add_argument("--json", action="store_true", help="everything, as JSON with sorted keys")

    history = sub.add_parser("history", help="trends across versions, as one offline HTML page")
    history.add_argument("runs", nargs="+", metavar="RUN", help="output folders or manifests, any order")
    history.add_argument(
        "--output", default="history", metavar="DIR", help="DIR/index.html (default: history)"
    )

    export = sub.add_parser("export", help="the shards in a trainer's own format (docs/training.md)")
    export.add_argument("run", metavar="RUN", help="output folder or its manifest.json (local or URL)")
    export.add_argument("--format", required=True, choices=("megatron", "mds", "litdata"), dest="fmt")
    export.add_argument("--output", required=True, metavar="DIR", help="a new or empty folder (local or URL)")
    export.add_argument(
        "--allow-unvalidated", action="store_true", help="export a run whose validation did not pass"
    )

    rejects = sub.add_parser("rejects", help="what a run removed and why: rejects by stage, reason, source")
    rejects.add_argument("run", metavar="RUN", help="output folder or its manifest.json (local or URL)")
    rejects.add_argument("--stage", metavar="S", help="only this stage (read, exact_dedup, quality, ...)")
    rejects.add_argument(
        "--reason", metavar="R", help="this reason, or a family by prefix (gopher_repetition: all its rules)"
    )
    rejects.add_argument("--source", metavar="GLOB", help="sources matching this glob (path or file name)")
    rejects.add_argument("--limit", type=int, default=20, metavar="N", help="rows shown (default 20; 0: all)")
    rejects.add_argument("--json", action="store_true", help="one JSON object per row, every field in full")

    show = sub.add_parser("show", help="one document's fate: kept (where) or removed (stage, reason, detail)")
    show.add_argument("run", metavar="RUN", help="output folder or its manifest.json (local or URL)")
    show.add_argument("doc_id", metavar="DOC_ID")

    profile = sub.add_parser(
        "profile", help="retention curves from a run's signals/; what another quality config would keep"
    )
    profile.add_argument("run", metavar="RUN", help="output folder or its manifest.json (local or URL)")
    profile.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="a quality threshold to try (repeatable): what the run's config with it would keep, in filter mode",
    )  # fmt: skip
    profile.add_argument(
        "--json", action="store_true", help="everything as JSON (with --set: the kept doc_ids)"
    )
    profile.add_argument(
        "--signal", metavar="NAME", help="only this rule (reason, metric or config key), every curve point"
    )
    for command in {id(c): c for c in sub.choices.values()}.values():
        _log_flags(command, suppress=True)
    return p


def _log_flags(p: argparse.ArgumentParser, suppress: bool) -> None:
    """The logging flags, on the main parser and again on each command's, so that they go before or after the
    command; the command's copies default to SUPPRESS, so that they never overwrite a value given before it."""

    def default(value):
        return argparse.SUPPRESS if suppress else value

    p.add_argument("-v", "--verbose", action="store_true", default=default(False),
                   help="our DEBUG lines (each step, counters) and tracebacks on the terminal")  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", default=default(False),
                   help="only errors, and one line when validation fails (exit 1); no summary")  # fmt: skip
    p.add_argument(
        "--log-level", type=str.upper, default=default(None), metavar="LEVEL",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="our level (default INFO: progress, warnings); libraries log at WARNING, or LEVEL if higher",
    )  # fmt: skip
    p.add_argument("--json-logs", action="store_true", default=default(False),
                   help="one JSON object per log line on stderr (no progress bar)")  # fmt: skip


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")


def _dry_run_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dry-run", action="store_true",
        help="print the inputs, work units, stages and what the output would get; write nothing",
    )  # fmt: skip


def demo_overrides() -> list[str]:
    """The demo decontaminates against the project's own small benchmark (one sample post quotes an item),
    scores every document with the project's tiny fastText quality model (trained on the sample:
    transforms/quality/tiny_models.py) and writes the signals, so its report shows the threshold curves."""
    data = resources.files("transforms.quality") / "data"
    spec = f"{{name: demo, path: '{data / 'demo_benchmark.jsonl'}', fields: [question, choices, answer], id_field: id}}"
    model = f"{{name: tiny, type: fasttext, model: '{data / 'tiny_quality.bin'}', label: hq}}"
    return [f"decontamination.benchmarks=[{spec}]", f"quality.classifiers=[{model}]", "quality.signals=true"]


def sample_corpus() -> str:
    return str(resources.files("etl") / "data" / "sample")


def _print_summary(result) -> None:
    """Text MB (uncompressed, what every rate is about) and input MB (on storage, compressed) side by side."""
    from etl.store.replace import version_of

    m = result.manifest
    counts = m["counts"]
    seconds = max(result.seconds, 1e-9)
    text_mb = (m.get("run") or {}).get("text_bytes", 0) / 1e6
    input_mb = result.input_bytes / 1e6
    print(f"corpus-etl: read {counts['read']} records, {text_mb:.1f} MB of text ({input_mb:.1f} MB input) "
          f"in {result.seconds:.1f} s ({counts['read'] / seconds:.0f} docs/s, {text_mb / seconds:.2f} MB/s of text)")  # fmt: skip
    skipped = [i for i in m.get("inputs") or [] if i.get("skipped")]
    if skipped:
        by = ", ".join(sorted({i["processed_by"] for i in skipped}))
        print(f"  {len(skipped)} inputs skipped ({sum(i['bytes'] for i in skipped) / 1e6:.1f} MB, "
              f"already processed by {by}); {m['run']['input_files']} processed")  # fmt: skip
    for stage, c in counts["stages"].items():
        reasons = ", ".join(f"{r} {n}" for r, n in c["reasons"].items())
        print(f"  {stage:<15} in {c['in']:>9}  out {c['out']:>9}  rejected {c['rejected']:>8}  {reasons}")
    tokens = sum(s["tokens"] for s in m["shards"])
    print(f"  kept {counts['kept']} documents, {tokens} tokens in {len(m['shards'])} shards"
          + (f" ({len(m['quarantine'])} quarantined)" if m.get("quarantine") else ""))  # fmt: skip
    v = m["validation"]
    status = "passed" if v.get("success") else f"FAILED (policy {v.get('policy')})"
    print(f"  validation {status}")
    for hint in _hints(result):
        print(f"  hint: {hint}")
    if result.replaced:
        r = result.replaced
        print(f"  replaced version {r['version']} ({r['kept']} documents, {r['created_at']}) "
              f"with {version_of(m)}: {', '.join(r['differences'][:4])}")  # fmt: skip
    out = result.output
    files = [
        "manifest.json",
        *(["shards/"] if m["shards"] else []),
        *(["rejects/"] if m.get("rejects") else []),
        *(["signals/"] if m.get("signals") else []),
    ]
    print(f"  output    {out}/: {', '.join(files)}")
    print(f"  report    {out}/report/index.html")


def _hints(result) -> list[str]:
    """What the summary can tell of a loss whose cause is clear (etl/report/hints.py); none if unreadable."""
    from etl.report.hints import hinted_rejects, run_hints

    try:
        return run_hints(result.manifest, hinted_rejects(result.output, result.manifest))
    except OSError:
        return []


def check_output(output: str) -> None:
    """A local output must be a folder or not exist yet, under folders: a file there is a usage error (exit 2).

    URLs (s3://...) are left to the run, which owns every byte on storage.
    """
    from etl.ingest.input_files import local_path

    local = local_path(output)
    if local is None:
        return
    path = Path(local)
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"--output {output}: is an existing file, not a folder; name a folder (new or a run's)"
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"--output {output}: {parent} is a file, so no folder can be made under it")
            break


def _run(inputs: list[str], output: str, args, beam_args: list[str]) -> int:
    # Usage errors first: they need neither Beam nor the pipeline, so they come fast and on their own.
    check_output(output)
    config = load_config(args.config, args.overrides)
    if getattr(args, "against", None) or getattr(args, "incremental", False):
        inc = config.incremental
        config = config.model_copy(
            update={
                "incremental": inc.model_copy(
                    update={
                        "against": [*inc.against, *args.against],
                        "enabled": inc.enabled or args.incremental,
                    }
                )
            }
        )
    if args.dry_run:
        return _dry_run(inputs, output, config, beam_args, getattr(args, "overwrite", False))
    from etl.run import run_pipeline

    result = run_pipeline(inputs, output, config, beam_args, overwrite=getattr(args, "overwrite", False))
    stop_live_bar()  # before the summary: the bar must not be redrawn in the middle of it
    if not args.quiet:
        _print_summary(result)
    elif not result.ok:  # -q: the one status line of an exit 1, which no error line explains
        policy = result.manifest["validation"].get("policy")
        print(f"corpus-etl: validation FAILED (policy {policy}), exit 1: {result.output}/report/index.html",
              file=sys.stderr)  # fmt: skip
    return EXIT_OK if result.ok else EXIT_INVALID


def _dry_run(inputs: list[str], output: str, config, beam_args: list[str], overwrite: bool) -> int:
    """The plan (etl/run/dry_run.py), nothing written; exit 2 when the run would be refused at its output."""
    from etl.run.dry_run import plan_run, render_plan

    plan = plan_run(inputs, output, config, beam_args=beam_args, overwrite=overwrite)
    sys.stdout.write(render_plan(plan))
    return EXIT_USAGE if plan["outcome"] == "refused" else EXIT_OK


def _lookup(args) -> int:
    """`rejects` lists a run's rejects by stage, reason and source; `show` follows one document
    (etl/lineage/lookup.py). An id in neither the shards nor the rejects is exit 2."""
    from etl.lineage import lookup

    run = lookup.open_run(args.run)
    if args.command == "show":
        fate = lookup.document_fate(run, args.doc_id)
        if not fate["kept"] and not fate["removed"]:
            raise ValueError(
                f"{args.doc_id}: no such document in {args.run} (not in its shards nor its rejects)"
            )
        sys.stdout.write(lookup.render_fate(fate))
        return EXIT_OK
    listing = lookup.list_rejects(run, args.stage, args.reason, args.source, args.limit)
    # With --json, stdout holds only the rows (one object a line), so the summary goes to stderr.
    print(lookup.summary_line(listing), file=sys.stderr if args.json else sys.stdout)
    sys.stdout.write(lookup.render_json_lines(listing) if args.json else lookup.render_table(listing))
    return EXIT_OK


def _profile(args) -> int:
    """`profile` prints each quality rule's retention curve, or with --set what that config would keep and
    remove per reason, replayed on the run's signals (etl/lineage/profile.py). A run without signals, or a
    change the signals cannot answer, is exit 2."""
    import json

    from etl.config import config_from
    from etl.lineage import profile
    from etl.report.predict import predict
    from etl.report.signals import curves

    _, signals = profile.open_signals(args.run)
    if args.overrides:
        if args.signal:
            raise ValueError("--signal shows one rule's curve: give it without --set")
        new = config_from(signals.config.to_dict(), args.overrides, "--set")
        result = predict(signals.table, signals.config, new)
        if args.json:
            sys.stdout.write(json.dumps(profile.prediction_json(args.run, signals, result), indent=1) + "\n")
        else:
            sys.stdout.write(profile.prediction_text(args.run, signals, result))
        return EXIT_OK
    shown = profile.pick(curves(signals), args.signal)
    if args.json:
        sys.stdout.write(json.dumps(profile.curves_json(args.run, signals, shown), indent=1) + "\n")
    else:
        sys.stdout.write(profile.curves_text(args.run, signals, shown, every=args.signal is not None))
    return EXIT_OK


def _report(args) -> int:
    from etl.report import serve_report, write_report

    path = write_report(args.dir)
    print(f"report: {path}")
    if args.serve:
        serve_report(args.dir, port=args.port)
    return EXIT_OK


def _lineage(args) -> int:
    """`diff` prints what changed between two versions; `history` writes the page of all of them."""
    if args.command == "history":
        from etl.lineage import write_history

        print(f"history: {write_history(args.runs, args.output)}")
        return EXIT_OK
    import json

    from etl.lineage import diff_runs, load_run, render_text

    result = diff_runs(load_run(args.run_a), load_run(args.run_b))
    text = json.dumps(result, indent=2, sort_keys=True) + "\n" if args.json else render_text(result)
    sys.stdout.write(text)
    return EXIT_OK


def _export(args) -> int:
    from etl.export import export_run

    r = export_run(args.run, args.fmt, args.output, allow_unvalidated=args.allow_unvalidated)
    print(f"export: {r['documents']} documents, {r['tokens']} tokens ({r['dtype']}) as {r['format']} in "
          f"{args.output}: {', '.join(r['files'])}")  # fmt: skip
    return EXIT_OK


def _setup_logging(args) -> bool:
    """Default: our progress and warnings (INFO) and the libraries' warnings, a live bar on a terminal; -v:
    our DEBUG lines and tracebacks; -q (wins over -v): errors only; --log-level: our level, the libraries at
    WARNING or that level if higher. Returns whether tracebacks go to the terminal."""
    from etl.logs import configure_logging

    ours = "ERROR" if args.quiet else args.log_level or ("DEBUG" if args.verbose else "INFO")
    level = logging.getLevelName(ours)
    libraries = logging.getLevelName(max(level, logging.WARNING))
    configure_logging(
        ours, args.json_logs, libraries, bar=level <= logging.INFO, tracebacks=level <= logging.DEBUG
    )
    return level <= logging.DEBUG


def _paths(args) -> list[str]:
    """The runs, inputs and outputs the command names: what an error line may have to name."""
    named = [getattr(args, key, None) for key in ("run", "run_a", "run_b", "dir", "output")]
    named += [*(getattr(args, "runs", None) or []), *(getattr(args, "input", None) or [])]
    return [p for p in named if isinstance(p, str)]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, beam_args = argv[:cut], argv[cut + 1 :]
    args = _parser().parse_args(argv)
    verbose = _setup_logging(args)
    try:
        runs = [getattr(args, key) for key in ("run", "run_a", "run_b", "dir") if getattr(args, key, None)]
        for run in [*runs, *(getattr(args, "runs", None) or [])]:
            check_is_run(run)  # a RUN that is no run: one line naming it, exit 2
        if args.command == "config":
            print(load_config(args.config, args.overrides).to_yaml(), end="")
            return EXIT_OK
        if args.command == "run":
            return _run(args.input, args.output, args, beam_args)
        if args.command == "demo":
            args.overrides = [*demo_overrides(), *args.overrides]  # the user's --set wins
            return _run([sample_corpus()], args.output, args, beam_args)
        if args.command in ("diff", "history"):
            return _lineage(args)
        if args.command == "export":
            return _export(args)
        if args.command in ("rejects", "show"):
            return _lookup(args)
        if args.command == "profile":
            return _profile(args)
        return _report(args)
    except KeyboardInterrupt:
        stop_live_bar()
        print("corpus-etl: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one line, exit 2 or 3 (never 1, which means invalid data): etl/logs/errors.py
        stop_live_bar()
        return report(err, argv, _paths(args), getattr(args, "output", None), verbose)


def entry() -> None:
    """The `corpus-etl` command: main(), then leave without the interpreter's teardown.

    Every output is committed and every line printed by the time main() returns, but a native thread a
    library left running (pyarrow's IO pool, grpc's from Beam) can abort the teardown ("terminate called
    without an active exception", SIGABRT), turning a finished run into a crash. Flushing and calling
    os._exit skips that teardown; main() itself stays an ordinary function for callers in Python.
    """
    code = main()
    stop_live_bar()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach the reader anyway
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
