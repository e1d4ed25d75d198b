"""Hand-written documents for the quality tests (no tests here): clean English pages every rule keeps, and helpers."""

from __future__ import annotations

import pyarrow as pa

from transforms.quality import QualityConfig
from transforms.quality.params import FAMILY_ORDER
from transforms.schema import DOC_SCHEMA

CLEAN = [
    "The river runs through the old town and past the market, where farmers sell bread, cheese and apples "
    "every Saturday morning.\n"
    "Visitors often stop at the bridge to watch the boats, and some of them walk along the bank until the "
    "path reaches the mill.\n"
    "The mill was built in the sixteenth century and it still grinds flour for the bakery next to the church.\n"
    "In the evening the square fills with families. The cafes stay open late during the summer months.",
    "Learning to play the piano takes patience, and most teachers recommend short daily practice instead of "
    "long sessions once a week.\n"
    "Beginners usually start with scales, which help the fingers move evenly and teach the shape of each key.\n"
    "After a few months, simple pieces by composers such as Bach or Schumann become possible, and that "
    "progress keeps students motivated.\n"
    "Listening to recordings is also useful. It shows how phrasing and rhythm can change the "
    "character of the same melody.",
    "A good vegetable soup begins with onions, carrots and celery cooked slowly in olive oil until they are "
    "soft and sweet.\n"
    "Then the cook adds potatoes, beans and a handful of herbs, covers everything with water, and lets the "
    "pot simmer for an hour.\n"
    "Salt should be added near the end, since the liquid reduces and the flavour becomes stronger with time.\n"
    "Served with fresh bread, the soup makes a simple dinner. It is cheap, healthy and easy to share with "
    "friends.",
    "The library opened a new reading room last spring, with large windows that face the park and quiet "
    "desks for students.\n"
    "Its collection includes maps of the region, local newspapers from the last two centuries, and letters "
    "written by early settlers.\n"
    "Librarians run workshops on research methods, and they help visitors find records about their own "
    "families and homes.\n"
    "Many people say the room has become their favourite place. They think, read and write there during the "
    "long winter afternoons.",
]

LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt."
FRENCH = (
    "La ville se trouve au bord de la rivière et les habitants vont au marché chaque samedi matin pour "
    "acheter du pain, du fromage et des fruits.\nLes enfants jouent dans le parc pendant que leurs parents "
    "prennent un café sur la place, et le soir les familles se promènent le long du quai."
)
GERMAN = (
    "Die Stadt liegt am Ufer des Flusses, und die Einwohner gehen jeden Samstag auf den Markt, um Brot, Käse "
    "und Obst zu kaufen.\nDie Kinder spielen im Park, während ihre Eltern auf dem Platz Kaffee trinken, und am "
    "Abend gehen die Familien am Ufer spazieren."
)


def batch_of(texts: list[str], prefix: str = "d") -> pa.RecordBatch:
    rows = [
        {"doc_id": f"{prefix}{i}", "text": t, "source": "test.jsonl", "meta": "{}", "line": i + 1}
        for i, t in enumerate(texts)
    ]
    return pa.RecordBatch.from_pylist(rows, DOC_SCHEMA)


def only(family: str, **changes) -> QualityConfig:
    """A config with one rule family on (and C4's bad words off unless asked), the rest off."""
    config = QualityConfig()
    for name in FAMILY_ORDER:
        getattr(config, name).enabled = name == family
    config.c4.filter_bad_words = False
    for dotted, value in changes.items():
        block, key = dotted.split("__")
        setattr(getattr(config, block), key, value)
    return config
