"""Attention against the information bottleneck: accuracy as the source gets longer.

    python examples/attention_vs_length.py [--max-len 30] [--steps 1000] [--png out.png]

Chapter 15.8's encoder-decoder squeezes the whole source into one fixed vector, the encoder's
final state, from which the decoder must write every output token; the longer the source,
the more that vector has to hold. Attention lets the decoder look back at every encoder
output instead. This script trains the same encoder-decoder twice on the ``reverse`` task
with sources of 4 to ``--max-len`` letters, once without attention (the fixed context) and
once with Bahdanau attention, with the same data, steps and seed, and prints exact-match and
token accuracy per source-length bucket, for greedy decoding and for beam search.
"""

from __future__ import annotations

# isort: off
import _process_settings  # noqa: F401  (first: BLAS threads and malloc, before numpy loads)
# isort: on

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tasks as T
import translate

import minigrad as mg


def bucket_edges(min_len: int, max_len: int, width: int) -> list[tuple[int, int]]:
    """Consecutive length ranges [lo, hi] of ``width`` lengths covering min_len..max_len."""
    return [(lo, min(lo + width - 1, max_len)) for lo in range(min_len, max_len + 1, width)]


def per_bucket(task: T.Task, outputs: Sequence[translate.Output], pairs: Sequence[T.Pair],
               buckets: Sequence[tuple[int, int]]) -> list[tuple[float, float, int]]:
    """(exact match, token accuracy, count) of the pairs whose source length is in each
    bucket (token accuracy as in ``translate.metrics``)."""
    rows = []
    for lo, hi in buckets:
        index = [i for i, (source, _) in enumerate(pairs) if lo <= len(source) <= hi]
        if not index:
            rows.append((float("nan"), float("nan"), 0))
            continue
        exact = np.mean([outputs[i].text == pairs[i][1] for i in index])
        matched = total = 0
        for i in index:
            ref = [*task.target_tokens(pairs[i][1]), None]
            hyp = [*outputs[i].tokens, None]
            matched += sum(a == b for a, b in zip(ref, hyp, strict=False))
            total += len(ref)
        rows.append((float(exact), matched / total, len(index)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-len", type=int, default=6)
    parser.add_argument("--max-len", type=int, default=30)
    parser.add_argument("--bucket", type=int, default=5, help="lengths per bucket")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--cell", choices=["gru", "lstm", "rnn"], default="gru")
    parser.add_argument("--attention", default="bahdanau",
                        choices=[a for a in translate.ATTENTIONS if a != "none"],
                        help="the attention compared with none")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=20_000)
    parser.add_argument("--test-size", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--png", type=Path, help="also plot accuracy against length here")
    args = parser.parse_args(argv)

    task = T.get_task("reverse", min_len=args.min_len, max_len=args.max_len)
    splits = T.make_splits(task, seed=args.seed, sizes=(args.train_size, 500, args.test_size))
    source_vocab, target_vocab = T.build_vocabs(task, splits.train)
    buckets = bucket_edges(args.min_len, args.max_len, args.bucket)
    print(f"task: {task.description}; {len(splits.train)} training pairs, {len(splits.test)} "
          f"test pairs; {args.steps} steps each; {args.cell.upper()} hidden {args.hidden}, "
          "bidirectional encoder")

    results: dict[str, dict[str, list[tuple[float, float, int]]]] = {}
    start = time.perf_counter()
    for attention in ("none", args.attention):
        mg.manual_seed(args.seed)
        config = translate.ModelConfig(len(source_vocab), len(target_vocab), cell=args.cell,
                                       attention=attention, hidden=args.hidden)
        model = translate.build_model(config)
        stats = translate.train(model, task, splits, source_vocab, target_vocab,
                                translate.TrainConfig(steps=args.steps, seed=args.seed),
                                log=lambda line: print("   ", line))
        print(f"  attention {attention}: {model.num_parameters():,} parameters, trained in "
              f"{stats['seconds']:.0f} s")
        results[attention] = {}
        for beam in (1, args.beam) if args.beam > 1 else (1,):
            outputs = translate.translate_pairs(model, task, splits.test, source_vocab,
                                                target_vocab, beam=beam)
            results[attention]["greedy" if beam == 1 else f"beam {beam}"] = per_bucket(
                task, outputs, splits.test, buckets)

    columns = [(a, d) for a, by in results.items() for d in by]
    print(f"\nexact match (token accuracy) on the test set by source length "
          f"({time.perf_counter() - start:.0f} s in all):")
    header = f"{'length':>8s} {'n':>4s}  " + "  ".join(
        f"{(a if a != 'none' else 'no attention') + ', ' + d:>20s}" for a, d in columns)
    print(header)
    for b, (lo, hi) in enumerate(buckets):
        count = results["none"]["greedy"][b][2]
        cells = "  ".join(f"{results[a][d][b][0]:9.1%} ({results[a][d][b][1]:6.1%})"
                          for a, d in columns)
        print(f"{lo:>4d}-{hi:<3d} {count:>4d}  {cells}")

    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        centers = [(lo + hi) / 2 for lo, hi in buckets]
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for a, d in columns:
            ax.plot(centers, [r[0] for r in results[a][d]], marker="o",
                    linestyle="-" if d == "greedy" else "--",
                    label=f"{'no attention' if a == 'none' else a}, {d}")
        ax.set_xlabel("source length")
        ax.set_ylabel("exact match")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("reverse: the fixed context against attention")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.png, dpi=110)
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
