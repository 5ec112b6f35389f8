#!/usr/bin/env python3
"""Regenerate data/default/ (the study's embedded default) from ../shared/data/odyssey-mini.

Deterministic: documents keep their source order, JSON is written with sorted keys, and gzip
files carry no timestamp, so running this twice gives byte-identical files.

Licence rule: only CC BY-SA, CC BY, CC0, PSF or public-domain texts are shipped, with their
attribution (SOURCE.txt) kept. The Common Crawl web documents of general_mix
(meta.kind == "web") are never copied.

Usage: python3 scripts/make_default_data.py [--src ../shared/data/odyssey-mini] [--dst data/default]
"""

import argparse
import gzip
import io
import json
import os
import shutil
import sys

SPLITS = ("train", "valid", "test")

# Domains studied, with an optional cap on characters per split (documents are taken in file
# order until the cap is reached) to keep the repository small. None = the whole split.
DOMAINS = {
    "wiki_music": None,
    "wiki_military": None,
    "arxiv_cs": None,
    "arxiv_physics": None,
    "speeches_us_gov": {"train": 600_000, "valid": 80_000, "test": 100_000},
}

# The base model's pretraining corpus: general_mix without its web part, plus the train splits
# of the Wikipedia domains (as Dolma holds Wikipedia for OLMo). Domain valid/test stay unseen.
PRETRAINING_EXTRA_TRAIN = ("wiki_music", "wiki_military")

ALLOWED_LICENCE_PREFIXES = (
    "http://creativecommons.org/licenses/by/",
    "http://creativecommons.org/licenses/by-sa/",
    "http://creativecommons.org/publicdomain/zero/",
)
# Licence of each source folder when documents carry no per-document licence.
FOLDER_LICENCE = {
    "wiki_music": "CC BY-SA 3.0",
    "wiki_military": "CC BY-SA 3.0",
    "speeches_us_gov": "public domain",
    "general_mix": "CC BY-SA 3.0 (wikipedia) / public domain (book)",
}


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"{path}:{n}: {e}")


def check_licence(folder, doc):
    meta = doc.get("meta") or {}
    if folder == "general_mix":
        kind = meta.get("kind")
        if kind not in ("wikipedia", "book"):
            raise SystemExit(f"refusing to ship general_mix doc {doc['id']} of kind {kind!r}")
        return
    lic = meta.get("license")
    if lic is None:
        if folder not in FOLDER_LICENCE:
            raise SystemExit(f"{folder}: document {doc['id']} has no licence")
        return
    if not lic.startswith(ALLOWED_LICENCE_PREFIXES):
        raise SystemExit(f"{folder}: document {doc['id']} has licence {lic}, not allowed")


def write_jsonl_gz(path, docs):
    buf = io.BytesIO()
    for d in docs:
        buf.write(json.dumps(d, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        buf.write(b"\n")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".partial.tmp"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(buf.getvalue())
    os.replace(tmp, path)


def take(docs, cap):
    out, chars = [], 0
    for d in docs:
        if cap is not None and out and chars + len(d["text"]) > cap:
            break
        out.append(d)
        chars += len(d["text"])
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=os.path.join(root, "..", "shared", "data", "odyssey-mini"))
    ap.add_argument("--dst", default=os.path.join(root, "data", "default"))
    args = ap.parse_args()
    src, dst = os.path.abspath(args.src), os.path.abspath(args.dst)
    stats = {}

    for name, caps in DOMAINS.items():
        folder = os.path.join(src, name)
        out = os.path.join(dst, "domains", name)
        stats[name] = {}
        for split in SPLITS:
            docs = list(read_jsonl(os.path.join(folder, f"{split}.jsonl")))
            for d in docs:
                check_licence(name, d)
            docs = take(docs, None if caps is None else caps[split])
            write_jsonl_gz(os.path.join(out, f"{split}.jsonl.gz"), docs)
            stats[name][split] = (len(docs), sum(len(d["text"]) for d in docs))
        for extra in ("SOURCE.txt", "LICENSE-unarXive-sample.txt"):
            p = os.path.join(folder, extra)
            if os.path.exists(p):
                shutil.copyfile(p, os.path.join(out, extra))

    pre = os.path.join(dst, "pretraining")
    stats["pretraining"] = {}
    for split in SPLITS:
        docs = []
        for d in read_jsonl(os.path.join(src, "general_mix", f"{split}.jsonl")):
            if (d.get("meta") or {}).get("kind") == "web":
                continue
            check_licence("general_mix", d)
            docs.append(d)
        if split == "train":
            for name in PRETRAINING_EXTRA_TRAIN:
                for d in read_jsonl(os.path.join(src, name, "train.jsonl")):
                    check_licence(name, d)
                    docs.append(d)
        write_jsonl_gz(os.path.join(pre, f"{split}.jsonl.gz"), docs)
        stats["pretraining"][split] = (len(docs), sum(len(d["text"]) for d in docs))
    with open(os.path.join(src, "general_mix", "SOURCE.txt"), encoding="utf-8") as f:
        gm = f.read()
    parts = [
        "Pretraining corpus of the embedded default: general_mix WITHOUT its Common Crawl web part\n"
        "(meta.kind == 'web' dropped: not redistributable), plus the train splits of wiki_music and\n"
        "wiki_military (the base has seen those domains' training text, as Dolma holds Wikipedia).\n"
        "Licences: Wikipedia text CC BY-SA 3.0 (attribution: Wikipedia contributors); Project\n"
        "Gutenberg books public domain.\n\n--- general_mix/SOURCE.txt ---\n",
        gm,
    ]
    for name in PRETRAINING_EXTRA_TRAIN:
        with open(os.path.join(src, name, "SOURCE.txt"), encoding="utf-8") as f:
            parts += [f"\n--- {name}/SOURCE.txt (train split only) ---\n", f.read()]
    with open(os.path.join(pre, "SOURCE.txt"), "w", encoding="utf-8") as f:
        f.write("".join(parts))

    with open(os.path.join(dst, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(
            {k: {s: {"docs": n, "chars": c} for s, (n, c) in v.items()} for k, v in stats.items()},
            f,
            indent=1,
            sort_keys=True,
        )
        f.write("\n")
    for k, v in stats.items():
        print(k, {s: f"{n} docs / {c} chars" for s, (n, c) in v.items()})


if __name__ == "__main__":
    main()
