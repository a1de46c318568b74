#!/usr/bin/env python3
"""Writes the embedded sample under assets/ from a full assets folder.

The sample lets `make run` score a real run with no network and no full
assets: a seeded subset of each default task's evaluation split (and of its
few-shot split), in the files' own formats, beside their licenses.
Usage: python3 scripts/make-sample.py [FULL_ASSETS] (default $CHAEJEOM_ASSETS
or ../shared/assets). Standard library only; the output is committed.
"""
import csv
import gzip
import io
import json
import os
import random
import shutil
import sys

SEED = 1234
FULL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CHAEJEOM_ASSETS") or "../shared/assets"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets")


def pick(items, n, salt):
    """n items in their original order, drawn with a seed per file."""
    if len(items) <= n:
        return list(items)
    idx = sorted(random.Random(f"{SEED}:{salt}").sample(range(len(items)), n))
    return [items[i] for i in idx]


def src(rel):
    return os.path.join(FULL, rel)


def dst(rel):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def lines(rel, n):
    with open(src(rel), "rb") as f:
        rows = f.read().splitlines(keepends=True)
    with open(dst(rel), "wb") as f:
        f.writelines(pick(rows, n, rel))


def copy(rel, to=None):
    shutil.copyfile(src(rel), dst(to or rel))


def mmlu(n_test):
    for split, n in (("test", n_test), ("dev", None)):
        folder = src(f"datasets/mmlu/{split}")
        for name in sorted(os.listdir(folder)):
            rel = f"datasets/mmlu/{split}/{name}"
            # Rows may hold quoted newlines: sample whole CSV records.
            with open(src(rel), newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows(rows if n is None else pick(rows, n, rel))
            with open(dst(rel), "w", encoding="utf-8", newline="") as f:
                f.write(out.getvalue())


def hellaswag(n):
    rel = "datasets/hellaswag/hellaswag_val_full.txt.gz"
    with gzip.open(src(rel), "rb") as f:
        rows = f.read().splitlines(keepends=True)
    tasks = [rows[i:i + 6] for i in range(0, len(rows), 6)]
    # mtime=0: the same bytes on every regeneration.
    with open(dst(rel), "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        for t in pick(tasks, n, rel):
            f.writelines(t)


def truthfulqa(n):
    rel = "datasets/truthfulqa/data/v1/mc_task.json"
    with open(src(rel), encoding="utf-8") as f:
        docs = json.load(f)
    with open(dst(rel), "w", encoding="utf-8") as f:
        json.dump(pick(docs, n, rel), f, ensure_ascii=False, indent=2)
        f.write("\n")


def main():
    for m in ("stories260K.bin", "tok512.bin"):
        copy(f"models/stories260K/{m}")
    mmlu(8)
    copy("datasets/mmlu/LICENSE.hendrycks-test")
    for kind in ("Easy", "Challenge"):
        lines(f"datasets/arc/ARC-{kind}/ARC-{kind}-Test.jsonl", 100)
        lines(f"datasets/arc/ARC-{kind}/ARC-{kind}-Train.jsonl", 20)
    hellaswag(100)
    copy("datasets/hellaswag/LICENSE.rowanz-hellaswag")
    truthfulqa(100)
    copy("datasets/truthfulqa/LICENSE")
    lines("datasets/winogrande/dev.jsonl", 100)
    lines("datasets/winogrande/train_l.jsonl", 20)


if __name__ == "__main__":
    main()
