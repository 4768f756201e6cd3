"""Recall of person and place names when a headstart NER run does the finding (for `privacy
pseudonymize --names-run`), on the WNUT-16 test split of `benchmarks/ner_wnut16.py`.

    python benchmarks/ner_wnut16.py --out runs/wnut16      # trains the NER run first
    python benchmarks/name_recall_wnut16.py --run runs/wnut16/finetune

A gold person or geo-loc entity counts as found when every one of its characters lies inside a
replaced span; precision is the share of replaced name spans that touch a gold person or place.
"""

from __future__ import annotations

import argparse

from headstart.data.ner import joined_words, tags_to_spans
from headstart.preparation import name_finder, prepare_splits
from headstart.privacy.pseudonyms import find_all
from headstart.progress import quiet_libraries
from headstart.runs import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    args = parser.parse_args()
    quiet_libraries()
    names = name_finder(args.run)
    test = prepare_splits(load_run(args.run).config).test
    texts, gold = [], []
    for words, tags in zip(test.words, test.labels, strict=True):
        text, offsets = joined_words(words)
        texts.append(text)
        gold.append(
            [
                (offsets[a][0], offsets[b - 1][1], kind)
                for a, b, kind in tags_to_spans(list(tags))
                if kind in ("person", "geo-loc")
            ]
        )
    found = find_all(texts, names)
    for kind, name in (("person", "PERSON"), ("geo-loc", "PLACE")):
        entities = [(i, s, e) for i, spans in enumerate(gold) for s, e, k in spans if k == kind]
        covered = sum(
            all(any(a <= c < b for a, b, _ in found[i]) for c in range(s, e)) for i, s, e in entities
        )
        predicted = [(i, a, b) for i, spans in enumerate(found) for a, b, k in spans if k == name]
        touching = sum(any(a < e and b > s for s, e, _ in gold[i]) for i, a, b in predicted)
        print(
            f"{kind}: recall {covered / max(1, len(entities)):.3f} ({covered}/{len(entities)}), "
            f"precision {touching / max(1, len(predicted)):.3f} ({touching}/{len(predicted)})"
        )


if __name__ == "__main__":
    main()
