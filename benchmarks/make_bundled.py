"""Make the bundled model: a run's best.pt, stripped to what sampling needs, weights in fp16.

    python benchmarks/make_bundled.py benchmarks/out/tinyshakespeare-10m [--out checkpoints/bundled/best.pt]

Keeps weights, configs, vocab, step and metrics (no optimizer or RNG: the bundled file is for
sampling and `charnn info`, not for resuming). fp16 halves the file so a 2×512 model fits the 8 MB
the repository allows; `checkpoint.build_model` turns the weights back to fp32 on load. Prints the
full-validation loss of the original and of the written file, so the rounding cost is visible.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from charnn import checkpoint, runs
from charnn.data import ReadOptions, load_corpus
from charnn.evaluation import evaluate, lead_before
from charnn.vocab import Vocab

KEEP = ("format", "model", "model_config", "train_config", "vocab", "step", "metrics", "corpus", "corpus_chars",
        "corpus_digest", "read_options")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder or a .pt file")
    parser.add_argument("--out", type=Path, default=runs.BUNDLED)
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpora/tinyshakespeare.txt"),
                        help="the run's corpus, to score both files on its validation split")
    args = parser.parse_args()
    source = runs.resolve(args.run)
    payload = checkpoint.load(source)
    small = {key: payload[key] for key in KEEP if key in payload}
    small["model"] = {name: tensor.half() if tensor.is_floating_point() else tensor
                      for name, tensor in payload["model"].items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.save(small, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) from {source}")
    if args.corpus.exists():
        options, vocab = ReadOptions(**payload.get("read_options", {})), Vocab(payload["vocab"])
        corpus = load_corpus(args.corpus, options, vocab=vocab)
        train_ids, val_ids = corpus.split(payload["train_config"]["val_fraction"])
        lead = lead_before(corpus.ids, len(train_ids), [])  # as training's evals and `charnn eval` read the split
        for name, scored in (("original", payload), ("bundled", checkpoint.load(args.out))):  # the file as written
            nats, chars = evaluate(checkpoint.build_model(scored), val_ids, lead=lead)
            print(f"{name:<9} full-val {nats:.4f} nats over {chars:,} chars")
    else:
        print(f"{args.corpus} not found: not scored")


if __name__ == "__main__":
    main()
