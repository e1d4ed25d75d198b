"""`corpus-etl run --dry-run`: what a run would read, cut, run and commit, with nothing written anywhere.

`plan_run` makes the same choices as `run_pipeline` up to the point where a run takes its output's lease: the
input listing, the overlap and reachability checks, the parents, the inputs an incremental run would skip, the
work units, the stages the config enables, the tokenizer, and whether the output would get a new version, an
idempotent rerun, a replacement (`--overwrite`) or a refusal. It creates no output folder, lease, staging or
spill: a compressed stream a run would decompress into chunks stays one unit here, and the plan says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from etl.ingest.overlap import check_inputs_outside_output
from etl.ingest.plan import is_chunked, plan_units
from etl.ingest.sources import detect_format, expand_inputs
from etl.run.driver import preflight
from etl.run.incremental import choose_inputs, select_inputs
from etl.run.stages import build_chain
from etl.store.lease import live_holder
from etl.store.replace import VersionConflict, check_replacement, committed_manifest, version_of
from transforms.quality.params import FAMILY_ORDER

SHOWN_UNITS = 20  # units listed one by one; the rest are counted


def _outcome(
    out: str, config, entries: list[dict], previous: dict | None, overwrite: bool
) -> tuple[str, str]:
    """(new | rerun | replace | refused, why) for the output, by the rules the run applies."""
    holder = live_holder(out)
    if holder is not None:
        return "refused", f"output {out} is in use by {holder}"
    if previous is None:
        return "new", f"{out} holds no committed version: this run would commit the first"
    try:
        replaced = check_replacement(previous, out, config.to_dict(), config.hash(), entries, overwrite)
    except VersionConflict as err:
        return "refused", str(err)
    if replaced is None:
        return "rerun", f"same inputs and config as version {version_of(previous)}: an idempotent rerun"
    return "replace", (
        f"--overwrite: version {replaced['version']} ({replaced['kept']} documents) would be replaced: "
        + ", ".join(replaced["differences"][:4])
    )


def _stage_settings(config, tokenizer: dict) -> list[dict]:
    """The stages the config enables, in flow order, with the settings that decide what each removes."""
    q, nd, tok = config.quality, config.near_dedup, config.tokenize
    settings = {
        "read": {
            "text_field": config.input.text_field, "id_field": config.input.id_field,
            "format": config.input.format, "unit_bytes": config.input.unit_bytes,
            "max_record_bytes": config.input.max_record_bytes,
        },
        "exact_dedup": {"against_earlier": len(config.incremental.against)},
        "quality": {
            "families": [n for n in FAMILY_ORDER if getattr(q, n).enabled],
            "languages": q.languages or "any", "pii_redaction": q.pii.enabled,
        },
        "near_dedup": {
            "threshold": nd.threshold, "ngram": nd.ngram, "shingle": nd.shingle, "num_perm": nd.num_perm,
            "bands x rows": "{} x {}".format(*nd.bands_rows()), "verify": nd.verify,
        },
        "tokenize": {
            "tokenizer": tok.tokenizer, "vocab_size": tokenizer.get("vocab_size"), "backend": tok.backend,
            "add_eos": tok.add_eos, "add_bos": tok.add_bos,
        },
    }  # fmt: skip
    stages = [{"name": "read", "settings": settings["read"]}]
    for stage in build_chain(config, "tokenize"):
        stages.append({"name": stage.name, "settings": settings.get(stage.name, {})})
    out, val = config.output, config.validation
    stages.append({"name": "output", "settings": {"compression": out.compression, "keep_text": out.keep_text,
                                                  "rejects_text": out.rejects_text}})  # fmt: skip
    stages.append({"name": "validation", "settings": {"enabled": val.enabled, "policy": val.policy,
                                                      "suites": val.suites}})  # fmt: skip
    return stages


def _units(files: list[tuple[str, int]], config) -> tuple[list[dict], list[str]]:
    """The work units (no spill folder: compressed streams stay whole), and the compressed JSONL files a run
    would cut into chunks, which here count as one unit each at their compressed size."""
    units = plan_units(files, config.input.unit_bytes, config.input.format, spill_dir=None)
    c = config.input
    chunked = [url for url, size in files if is_chunked(url, size, c.unit_bytes, c.format)]
    listed = [
        {
            "index": u.index,
            "bytes": u.bytes,
            "parts": [
                {"path": p.url, "kind": p.kind, "start": p.start, "stop": p.stop, "first_line": p.first_line}
                for p in u.parts
            ],
        }
        for u in units
    ]
    return listed, chunked


def plan_run(
    inputs: list[str], output: str, config, *, beam_args: Sequence[str] = (), overwrite: bool = False
) -> dict:
    """What `run_pipeline(inputs, output, config, beam_args, overwrite)` would do, as data; nothing is written.

    Faults that stop a run before it plans (no input matches, an unreachable path, a bad parent or
    tokenizer) raise as they do in the run (exit 2); a refusal at the output is the plan's `outcome`."""
    out = output.rstrip("/")
    parents = preflight(inputs, out, config, beam_args)
    files = expand_inputs(inputs)
    check_inputs_outside_output(inputs, out, [url for url, _ in files])
    previous = committed_manifest(out)
    # Hashing reads every input whole: only when a parent or a committed version has hashes to compare.
    needs_hashes = previous is not None or (config.incremental.enabled and parents)
    selection = choose_inputs(files, config, parents) if needs_hashes else select_inputs(files, {}, {})
    outcome, why = _outcome(out, config, selection.entries(), previous, overwrite)
    units, chunked = _units(selection.processed, config)
    from transforms.tokenize import load_tokenizer_info

    tokenizer = load_tokenizer_info(config.tokenize)
    return {
        "output": out,
        "outcome": outcome,
        "why": why,
        "inputs": [
            {
                **e,
                "format": detect_format(e["path"], config.input.format)[0] or "unknown",
                "compression": detect_format(e["path"])[1],
            }
            for e in selection.entries()
        ],
        "input_bytes": sum(b for _, b in selection.processed),
        "skipped_bytes": selection.skipped_bytes,
        "parents": [p.url for p in parents],
        "unit_bytes": config.input.unit_bytes,
        "units": units,
        "chunked_when_run": chunked,
        "stages": _stage_settings(config, tokenizer),
        "config_hash": config.hash(),
    }


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _shown(value) -> str:
    """A setting as YAML writes it (true, null), a list as its items."""
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(value)


def _part(p: dict) -> str:
    name = p["path"].rsplit("/", 1)[-1]
    if p["kind"] == "bytes":
        return f"{name} bytes {p['start']}-{p['stop']} (from line {p['first_line']})"
    if p["kind"] == "row_groups":
        return f"{name} row groups {p['start']}-{p['stop'] - 1}"
    return name


def render_plan(plan: dict) -> str:
    """The plan for people: inputs, units, stages, and what would happen at the output."""
    inputs = plan["inputs"]
    skipped = [i for i in inputs if i.get("skipped")]
    lines = [f"dry run: nothing is written. {len(inputs) - len(skipped)} input files, {_mb(plan['input_bytes'])}"
             + (f" ({len(skipped)} skipped as already processed, {_mb(plan['skipped_bytes'])})" if skipped else "")]  # fmt: skip
    for i in inputs:
        kind = i["format"] + (f"+{i['compression']}" if i["compression"] else "")
        note = f"  skipped: processed by {i['processed_by']}" if i.get("skipped") else ""
        lines.append(f"  {i['path']}  {_mb(i['bytes'])}  {kind}{note}")
    units = plan["units"]
    text = _mb(sum(u["bytes"] for u in units))
    lines.append(f"{len(units)} work units, {text} of text (unit_bytes {_mb(plan['unit_bytes'])})")
    for u in units[:SHOWN_UNITS]:
        lines.append(f"  unit {u['index']}: {_mb(u['bytes'])}: {', '.join(_part(p) for p in u['parts'])}")
    if len(units) > SHOWN_UNITS:
        lines.append(f"  ... and {len(units) - SHOWN_UNITS} more")
    if plan["chunked_when_run"]:
        lines.append(f"  {len(plan['chunked_when_run'])} compressed files count as one unit each at their "
                     "compressed size here; a run decompresses them and cuts them into more units")  # fmt: skip
    lines.append("stages: " + " -> ".join(s["name"] for s in plan["stages"]))
    for s in plan["stages"]:
        if s["settings"]:
            lines.append(
                f"  {s['name']:<11} " + ", ".join(f"{k} {_shown(v)}" for k, v in s["settings"].items())
            )
    if plan["parents"]:
        lines.append(f"against: {', '.join(plan['parents'])}")
    lines.append(f"output {plan['output']}: {plan['outcome']}: {plan['why']}")
    return "\n".join(lines) + "\n"
