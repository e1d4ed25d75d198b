"""What another quality config would keep, replayed on a run's signals instead of rerun (`corpus-etl profile
--set`): the new config's rules in their order, the first failing rule a document's reason, as the stage does
in filter mode (whatever quality.mode says: annotate mode keeps every document).

Only a change that leaves every metric as the run computed it can be replayed: thresholds, rules or families
switched off, `quality.languages`, a classifier's threshold. A metric the run did not compute for a document
(filter mode: an earlier rule had already rejected it) makes its outcome `unknown` unless an earlier rule
fails it; annotate mode computes every metric, so nothing is unknown there.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

import polars as pl

from etl.config import Config, flatten
from etl.report.signals import config_rules, rule_keys
from transforms.quality.rules import Rule

UNKNOWN = "unknown"  # the predicted reason of a document whose outcome needs a metric the run did not compute

# Keys whose change only moves a threshold or switches rules on or off, leaving every metric as computed.
# Everything else changes what reaches the stage (keys outside quality), or how a metric is computed
# (language.max_chars, gopher_quality.stop_words, most c4 switches: they decide which lines C4 keeps).
RULE_KEYS = (
    "quality.enabled",
    "quality.mode",
    "quality.signals",
    "quality.languages",
    "quality.language.enabled",
    "quality.language.min_score",
    "quality.gopher_repetition.*",
    "quality.gopher_quality.enabled",
    "quality.gopher_quality.min_doc_words",
    "quality.gopher_quality.max_doc_words",
    "quality.gopher_quality.min_avg_word_length",
    "quality.gopher_quality.max_avg_word_length",
    "quality.gopher_quality.max_symbol_word_ratio",
    "quality.gopher_quality.max_bullet_lines_ratio",
    "quality.gopher_quality.max_ellipsis_lines_ratio",
    "quality.gopher_quality.min_alpha_words_ratio",
    "quality.gopher_quality.min_stop_words",
    "quality.c4.enabled",
    "quality.c4.min_num_sentences",
    "quality.c4.filter_bad_words",  # judged on the text, no line depends on it
    "quality.fineweb.enabled",
    "quality.fineweb.line_punct_thr",
    "quality.fineweb.line_punct_exclude_zero",
    "quality.fineweb.short_line_thr",
    "quality.fineweb.char_duplicates_ratio",
    "quality.fineweb.new_line_ratio",
)
CLASSIFIER_KEYS = (
    "threshold",
)  # a classifier's only field that leaves its scores as they are (not even dtype)


class UnpredictableChange(ValueError):
    """A config change that the signals cannot answer; the message names the key."""


def _refuse(key: str, why: str) -> UnpredictableChange:
    return UnpredictableChange(
        f"--set {key}: cannot be predicted from signals ({why}); only quality thresholds, enabled flags, "
        "quality.languages and quality.language.min_score can; rerun the pipeline to see its effect"
    )


def _check_classifiers(before: list, after: list) -> None:
    old = {c.get("name"): c for c in before or []}
    for entry in after or []:
        name = entry.get("name")
        if name not in old:
            raise _refuse(f"quality.classifiers.{name}", "a classifier the run did not score with")
        for field in sorted(entry.keys() | old[name].keys()):
            if field not in CLASSIFIER_KEYS and entry.get(field) != old[name].get(field):
                raise _refuse(f"quality.classifiers.{name}.{field}", "it changes the classifier's scores")


def changed_keys(old: Config, new: Config, columns: Collection[str]) -> dict[str, tuple]:
    """{dotted key: (run's value, new value)} of every changed key, after refusing (UnpredictableChange) any
    change that the signals with these `columns` cannot answer."""
    a, b = flatten(old.to_dict()), flatten(new.to_dict())
    changed = {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}
    for key, (before, after) in changed.items():
        if key == "quality.classifiers":
            _check_classifiers(before, after)
        elif not key.startswith("quality."):
            raise _refuse(key, "it changes what reaches the quality stage or what follows it")
        elif not any(fnmatch.fnmatchcase(key, pattern) for pattern in RULE_KEYS):
            raise _refuse(key, "it changes how a quality metric is computed")
    if new.quality.enabled:
        keys = rule_keys(new.quality)
        for r in config_rules(new.quality):
            if r.metric not in columns:
                switch = f"quality.{r.reason.split('.', 1)[0]}.enabled"
                raise _refuse(
                    switch if switch in changed else keys.get(r, switch),
                    f"rule {r.reason} needs {r.metric}, which the run's signals lack: its family did not run",
                )
    return changed


def replay(signals: pl.DataFrame, rules: list[Rule]) -> pl.Series:
    """Per document, the first failing rule's reason; UNKNOWN where a rule before any failing one has no
    metric; null where every rule passes."""
    if not rules:
        return pl.Series("reason", [None] * signals.height, dtype=pl.String)
    chain = None
    for r in rules:
        unknown, fails = pl.col(r.metric).is_null(), r.fails()
        chain = (pl.when(unknown) if chain is None else chain.when(unknown)).then(pl.lit(UNKNOWN))
        chain = chain.when(fails).then(pl.lit(r.reason))
    return signals.select(chain.otherwise(pl.lit(None, pl.String)).alias("reason")).to_series()


@dataclass(frozen=True)
class Prediction:
    """Per document (doc_id, source, line, tokens, tokens_estimated) the run's reason (`before`: what its
    config rejects for, in annotate mode too) and the predicted one (`after`)."""

    documents: pl.DataFrame
    changed: dict[str, tuple]
    filtering: bool  # the new config removes documents (quality on); else it keeps every one
    order: tuple[str, ...] = ()  # reasons in the order their rules decide (the run's, then the new config's)

    def _kept(self, column: str) -> pl.Expr:
        kept = pl.col(column).is_null()
        return kept | pl.lit(not self.filtering) if column == "after" else kept

    def kept(self, column: str = "after") -> int:
        return int(self.documents.select(self._kept(column).sum()).item())

    def tokens(self, column: str = "after") -> float:
        return float(self.documents.select(pl.col("tokens").filter(self._kept(column)).sum()).item() or 0)

    @property
    def undecidable(self) -> int:
        return int((self.documents["after"] == UNKNOWN).sum()) if self.filtering else 0

    def removed(self) -> dict[str, tuple[int, int]]:
        """{reason: (documents the run's config removes for it, predicted)}, in the order rules decide."""
        before = Counter(r for r in self.documents["before"].to_list() if r is not None)
        after = Counter(r for r in self.documents["after"].to_list() if r not in (None, UNKNOWN))
        if not self.filtering:
            after = Counter()
        seen = [r for r in self.order if r in before or r in after]
        seen += sorted((before.keys() | after.keys()) - set(seen))
        return {r: (before[r], after[r]) for r in seen}

    def kept_ids(self) -> list[str]:
        """The doc_ids predicted kept, in signals order (undecidable documents are not among them)."""
        return self.documents.filter(self._kept("after"))["doc_id"].to_list()

    def undecidable_ids(self) -> list[str]:
        return self.documents.filter(pl.col("after") == UNKNOWN)["doc_id"].to_list() if self.filtering else []


def predict(signals: pl.DataFrame, old_config: Config, new_config: Config) -> Prediction:
    """Replay `new_config`'s quality rules on the signals of a run made with `old_config`; raises
    UnpredictableChange (naming the key) for a change the signals cannot answer."""
    changed = changed_keys(old_config, new_config, signals.columns)
    quality = new_config.quality
    rules = config_rules(quality) if quality.enabled else []
    if "tokens" not in signals.columns:
        signals = signals.with_columns(tokens=pl.lit(None, pl.Float64), tokens_estimated=pl.lit(True))
    base = [c for c in ("doc_id", "source", "line", "tokens", "tokens_estimated") if c in signals.columns]
    documents = signals.select(*base, before=pl.col("reason")).with_columns(after=replay(signals, rules))
    # What filter mode keeps: annotate mode keeps every document, and its runs are profiled to choose filters.
    filtering = quality.enabled
    order = [r.reason for r in config_rules(old_config.quality) + rules]
    return Prediction(documents, changed, filtering, tuple(dict.fromkeys(order)))
