"""`corpus-etl`: run | demo | report | config | diff | history | export (DESIGN.md "The public interface").

Exit codes: 0 the run committed its manifest and validation passed (or its policy says warn/quarantine);
1 validation failed under policy `fail`; 2 bad usage, config or input (the message names the file or key);
3 the run itself failed (counts did not reconcile, a worker error).
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib import resources
from pathlib import Path

from etl.config import ConfigError, load_config

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="corpus-etl", description="Raw text corpora -> training-ready Parquet shards."
    )
    p.add_argument("--log-level", default="WARNING", help="Python log level (default WARNING)")
    p.add_argument("--json-logs", action="store_true", help="structured JSON log lines on stderr")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
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

    demo = sub.add_parser("demo", help="the bundled sample corpus through the whole flow")
    demo.add_argument("--output", default="demo-out", metavar="DIR")
    _config_args(demo)

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
    return p


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")


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
        print(f"  {stage:<12} in {c['in']:>9}  out {c['out']:>9}  rejected {c['rejected']:>8}  {reasons}")
    tokens = sum(s["tokens"] for s in m["shards"])
    print(f"  kept {counts['kept']} documents, {tokens} tokens in {len(m['shards'])} shards"
          + (f" ({len(m['quarantine'])} quarantined)" if m.get("quarantine") else ""))  # fmt: skip
    v = m["validation"]
    status = "passed" if v.get("success") else f"FAILED (policy {v.get('policy')})"
    print(f"  validation {status}")
    if result.replaced:
        r = result.replaced
        print(f"  replaced version {r['version']} ({r['kept']} documents, {r['created_at']}) "
              f"with {version_of(m)}: {', '.join(r['differences'][:4])}")  # fmt: skip
    out = result.output
    print(f"  manifest  {out}/manifest.json\n  shards    {out}/shards/\n  rejects   {out}/rejects/")
    print(f"  report    {out}/report/index.html")


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
    from etl.run import run_pipeline

    result = run_pipeline(inputs, output, config, beam_args, overwrite=getattr(args, "overwrite", False))
    _print_summary(result)
    return EXIT_OK if result.ok else EXIT_INVALID


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


def _setup_logging(args) -> None:
    from etl.logs import configure_logging

    configure_logging(args.log_level, args.json_logs, progress=not args.quiet)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, beam_args = argv[:cut], argv[cut + 1 :]
    args = _parser().parse_args(argv)
    _setup_logging(args)
    try:
        if args.command == "config":
            print(load_config(args.config, args.overrides).to_yaml(), end="")
            return EXIT_OK
        if args.command == "run":
            return _run(args.input, args.output, args, beam_args)
        if args.command == "demo":
            return _run([sample_corpus()], args.output, args, beam_args)
        if args.command in ("diff", "history"):
            return _lineage(args)
        if args.command == "export":
            return _export(args)
        return _report(args)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        print(f"corpus-etl: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as err:
        print(f"corpus-etl: run failed: {err}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as err:  # any other error is a failed run (3), never 1, which means invalid data
        logging.getLogger("corpus_etl").error("run failed", exc_info=True)
        print(f"corpus-etl: run failed: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
