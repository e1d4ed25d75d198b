"""Three real committed runs for the lineage tests (`diff`, `history`), made once per test session.

A reads corpus v1. Then the corpus changes in place (same paths, so documents keep their (doc_id, source)):
a document disappears (so its exact duplicate, rejected by A, is kept by B), a new document with a smaller
id duplicates one A kept (B rejects A's), a file is deleted, a file with English and German documents is
added. B runs over v2 with two config keys changed (near dedup on, German allowed), which removes one of a
planted near-duplicate pair. A French document is rejected by both. C reruns B's inputs and config into another output.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from etl.config import load_config
from etl.run import run_pipeline
from tests.corpus_fixtures import WORDS

# Only language identification among the quality rules: word-salad prose would trip the others at random.
COMMON = [
    "quality.gopher_repetition.enabled=false",
    "quality.gopher_quality.enabled=false",
    "quality.c4.enabled=false",
    "quality.fineweb.enabled=false",
    "validation.policy=warn",
]
CONFIG_A = [*COMMON, "near_dedup.enabled=false"]
CONFIG_B = [*COMMON, "near_dedup.enabled=true", "quality.languages=[en, de]"]
BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]

GERMAN = [
    "Der Zug nach Hamburg fährt heute später ab, weil die Strecke wegen Bauarbeiten gesperrt ist. "
    "Die Reisenden warten auf dem Bahnsteig und trinken Kaffee aus Pappbechern. Ein Schaffner erklärt, "
    "dass der Ersatzverkehr mit Bussen erst in einer Stunde beginnt und dass alle Fahrkarten gültig bleiben.",
    "Im Garten meiner Großmutter wachsen Tomaten, Bohnen und Kartoffeln. Jeden Sommer helfen wir ihr "
    "bei der Ernte, und am Abend kocht sie eine Suppe für die ganze Familie. Die Kinder spielen unter dem "
    "alten Apfelbaum, während die Erwachsenen über das Wetter und die Nachbarn sprechen.",
    "Die Bibliothek der Stadt hat ihre Öffnungszeiten verlängert. Studenten können jetzt bis Mitternacht "
    "lernen, und am Wochenende gibt es Lesungen für Kinder. Die Leiterin sagt, dass mehr Menschen als je "
    "zuvor Bücher ausleihen, obwohl viele Zeitungen behaupten, dass niemand mehr liest.",
]


def prose(i: int, n_words: int = 90) -> str:
    """A distinct English-like paragraph per i, far from every other i (the fixtures' `prose` paragraphs
    share long runs of words, so near dedup would fold them together)."""
    words = random.Random(i).choices(WORDS, k=n_words)
    return f"Paragraph {i}. " + " ".join(
        " ".join(words[j : j + 9]).capitalize() + "." for j in range(0, n_words, 9)
    )


FRENCH = (
    "Le marché du samedi ouvre très tôt sur la place de la mairie. Les maraîchers installent leurs étals de "
    "légumes, de fromages et de fleurs, et les habitants viennent discuter avec eux avant de rentrer déjeuner."
)


def _near_copy(text: str) -> str:
    """The text with one word changed: a near duplicate (about 0.9 Jaccard over 5-word shingles)."""
    words = text.split()
    words[len(words) // 2] = "zeppelin"
    return " ".join(words)


def _write(path: Path, docs: list[tuple[str, str]]) -> None:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs))


def corpus_v1(root: Path) -> None:
    a = [(f"a{i:02d}", prose(i)) for i in range(20)]
    a.append(("a99", prose(5)))  # exact duplicate of a05: A keeps a05
    a.append(("n00", prose(60)))
    a.append(("n01", _near_copy(prose(60))))  # near duplicate of n00 (A does not run near dedup)
    a.append(("fr0", FRENCH))  # rejected by both runs' language rule
    _write(root / "a.jsonl", a)
    _write(root / "b.jsonl", [(f"b{i:02d}", prose(100 + i)) for i in range(8)])


def corpus_v2(root: Path) -> None:
    a = [(f"a{i:02d}", prose(i)) for i in range(20) if i != 5]  # a05 gone: B keeps a99
    a.append(("a99", prose(5)))
    a.append(("n00", prose(60)))
    a.append(("n01", _near_copy(prose(60))))
    a.append(("fr0", FRENCH))
    a.append(("0new", prose(10)))  # same text as a10, smaller id: B keeps 0new and rejects a10
    _write(root / "a.jsonl", a)
    (root / "b.jsonl").unlink()
    c = [(f"c{i:02d}", prose(200 + i)) for i in range(5)]
    c += [(f"de{i}", text) for i, text in enumerate(GERMAN)]
    _write(root / "c.jsonl", c)


def build_lineage_runs(base: Path) -> dict[str, Path]:
    """The three runs under ``base`` (built once; a later call returns the same folders)."""
    corpus, runs = base / "corpus", {k: base / f"run-{k}" for k in "abc"}
    if all((p / "manifest.json").exists() for p in runs.values()):
        return {"corpus": corpus, **runs}
    corpus.mkdir(parents=True, exist_ok=True)
    corpus_v1(corpus)
    run_pipeline([str(corpus)], str(runs["a"]), load_config(overrides=CONFIG_A), BEAM)
    corpus_v2(corpus)
    for key in "bc":
        run_pipeline([str(corpus)], str(runs[key]), load_config(overrides=CONFIG_B), BEAM)
    return {"corpus": corpus, **runs}
