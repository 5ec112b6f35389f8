#!/usr/bin/env python3
"""Regenerate data/odyssey-mini-sample/ (the corpus the test suite reads) from odyssey-mini.

A small, redistributable sample of odyssey-mini in both of its layouts (Dolma-style JSONL and
M2D2's plain-text layout), with a manifest of its own statistics, so that the tests run in a
clone of the repository with nothing beside it.

Deterministic: documents keep their source order and are cut only at paragraph (or line)
boundaries; JSON is written with the source's key order; running this twice gives
byte-identical files.

Licence rule (odyssey-mini's README): only CC BY-SA, CC BY, CC0, PSF or public-domain texts are
shipped, with their attribution (SOURCE.txt and licence files) kept beside them. general_mix is
not sampled at all (its Common Crawl web documents are not redistributable).

Usage: python3 scripts/make_sample_corpus.py [--src DIR] [--dst DIR]
  --src  the full odyssey-mini corpus (default: $ODYSSEY_MINI_DIR, else
         ../shared/data/odyssey-mini beside the repository)
  --dst  where to write the sample (default: data/odyssey-mini-sample)
"""

import argparse
import json
import os
import re
import shutil
import sys

SPLITS = ("train", "valid", "test")

# Documents per split (train, valid, test) and the longest document kept, in characters
# (longer ones are cut at the last paragraph break before the limit; None: whole documents).
DOMAINS = {
    "wiki_music": ((48, 8, 8), None, "CC BY-SA 3.0"),
    "wiki_military": ((30, 6, 6), None, "CC BY-SA 3.0"),
    "arxiv_cs": ((3, 1, 1), 16_000, None),  # per-paper licence in meta.license
    "docs_python": ((16, 3, 3), 12_000, "PSF-2.0"),
    "legal_licenses": ((40, 8, 8), 12_000, "CC0 1.0 (package); texts verbatim"),
    "wiki_wikitext2": ((4, 5, 1), 6_000, "CC BY-SA 3.0"),
    "speeches_us_gov": ((6, 4, 2), 12_000, "public domain"),
    "books_gutenberg": ((4, 2, 2), 12_000, "public domain"),
}
# Domains repeated in M2D2's layout: <domain>/{train,valid,test}.txt, the split's documents
# joined with a newline (as odyssey-mini's own m2d2-layout/ is made).
M2D2 = ("wiki_music", "arxiv_cs")
# wiki_wikitext2/raw/valid.txt: the start of the raw WikiText-2 file, cut at a line break.
RAW_WIKITEXT_CHARS = 60_000

ALLOWED_LICENCE_PREFIXES = (
    "http://creativecommons.org/licenses/by/",
    "http://creativecommons.org/licenses/by-sa/",
    "http://creativecommons.org/publicdomain/zero/",
)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"{path}:{n}: {e}")


def check_licence(folder, folder_licence, doc):
    lic = (doc.get("meta") or {}).get("license")
    if lic is None:
        if folder_licence is None:
            sys.exit(f"{folder}: document {doc['id']} has no licence")
        return
    if not lic.startswith(ALLOWED_LICENCE_PREFIXES):
        sys.exit(f"{folder}: document {doc['id']} has licence {lic}, not allowed")


def cut(text, limit):
    """The longest prefix of `text` of at most `limit` characters that ends at a paragraph
    break (else a line break); the whole text when it is short enough."""
    if limit is None or len(text) <= limit:
        return text
    head = text[:limit]
    for sep in ("\n\n", "\n"):
        i = head.rfind(sep)
        if i > limit // 2:
            return head[:i].rstrip("\n")
    return head


def word_count(text):
    # lm-eval's word count: len(re.split(r"\s+", text)).
    return len(re.split(r"\s+", text))


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".partial.tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    default_src = os.environ.get("ODYSSEY_MINI_DIR") or os.path.join(
        root, "..", "shared", "data", "odyssey-mini"
    )
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default=default_src)
    ap.add_argument("--dst", default=os.path.join(root, "data", "odyssey-mini-sample"))
    args = ap.parse_args()
    src, dst = os.path.abspath(args.src), os.path.abspath(args.dst)
    if not os.path.isfile(os.path.join(src, "manifest.json")):
        sys.exit(
            f"odyssey-mini not found at {src} (no manifest.json); pass --src DIR or set "
            "ODYSSEY_MINI_DIR to the full corpus"
        )

    manifest = {}
    for name, (counts, limit, folder_licence) in DOMAINS.items():
        folder = os.path.join(src, name)
        out = os.path.join(dst, name)
        entry = {"docs": 0, "chars": 0, "words": 0, "lines": 0}
        texts_by_split = {}
        for split, n in zip(SPLITS, counts):
            docs = list(read_jsonl(os.path.join(folder, f"{split}.jsonl")))[:n]
            if len(docs) < n:
                sys.exit(f"{name}/{split}: {len(docs)} documents, {n} wanted")
            lines = []
            for d in docs:
                check_licence(name, folder_licence, d)
                d["text"] = cut(d["text"], limit)
                lines.append(json.dumps(d, ensure_ascii=False))
            write_text(os.path.join(out, f"{split}.jsonl"), "\n".join(lines) + "\n")
            texts = [d["text"] for d in docs]
            texts_by_split[split] = texts
            chars = sum(len(t) for t in texts)
            entry[f"{split}_docs"] = len(docs)
            entry[f"{split}_chars"] = chars
            entry["docs"] += len(docs)
            entry["chars"] += chars
            entry["words"] += sum(word_count(t) for t in texts)
            entry["lines"] += sum(t.count("\n") + 1 for t in texts)
        for extra in sorted(os.listdir(folder)):
            p = os.path.join(folder, extra)
            if os.path.isfile(p) and not extra.endswith(".jsonl"):
                shutil.copyfile(p, os.path.join(out, extra))
        if name in M2D2:
            for split, texts in texts_by_split.items():
                write_text(
                    os.path.join(dst, "m2d2-layout", name, f"{split}.txt"), "\n".join(texts) + "\n"
                )
        manifest[name] = entry

    raw_src = os.path.join(src, "wiki_wikitext2", "raw", "valid.txt")
    with open(raw_src, encoding="utf-8") as f:
        raw = f.read()
    raw = raw[: raw.rfind("\n", 0, RAW_WIKITEXT_CHARS) + 1]
    write_text(os.path.join(dst, "wiki_wikitext2", "raw", "valid.txt"), raw)

    write_text(os.path.join(dst, "manifest.json"), json.dumps(manifest, indent=1) + "\n")
    for k, v in manifest.items():
        print(f"{k:16} {v['train_docs']:3}/{v['valid_docs']}/{v['test_docs']} docs, {v['chars']:7} chars")


if __name__ == "__main__":
    main()
