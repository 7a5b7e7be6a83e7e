"""Train a sequence-to-sequence model with attention on a toy translation task, then look at it.

    python examples/translate.py --task dates            # train, evaluate, save, plot
    python examples/translate.py --task dates --translate "25th of November 2026"

Training shows a progress bar (loss, target tokens per second, teacher-forcing ratio) when
stderr is a terminal, and a few validation lines either way. Then the model is evaluated on the
held-out test set (exact match, token accuracy, BLEU and chrF from sacrebleu, for greedy and
beam search), a few test examples are printed, and ``OUT/checkpoint.npz`` (weights, model
settings and both vocabularies) and ``OUT/attention.png`` (where the decoder looked) are
written. ``--translate`` reloads that checkpoint and translates new text.

Tasks (``examples/tasks.py``): dates, en-fr-numbers, digits-en, reverse, sort, addition.
"""

from __future__ import annotations

# isort: off
import _process_settings  # noqa: F401  (first: BLAS threads and malloc, before numpy loads)
# isort: on

import argparse
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tasks as T

import minigrad as mg
from minigrad import nn, optim
from rnn import Decoder, Encoder, Seq2Seq, beam_search, greedy_decode, sequence_loss
from rnn.schedules import parse_schedule

CHECKPOINT = "checkpoint.npz"
CHECKPOINT_FORMAT = "minigrad-translate/1"
ATTENTIONS = ("bahdanau", "luong-dot", "luong-general", "luong-concat", "none")

#: Per-task defaults for the flags left unset (measured to reach the README's figures).
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "dates": dict(steps=600, hidden=64, embed=32, batch_size=64, lr=5e-3),
    "en-fr-numbers": dict(steps=1200, hidden=64, embed=32, batch_size=64, lr=5e-3),
    "digits-en": dict(steps=1200, hidden=64, embed=32, batch_size=64, lr=5e-3),
    "reverse": dict(steps=1200, hidden=64, embed=32, batch_size=64, lr=5e-3),
    "sort": dict(steps=1500, hidden=64, embed=32, batch_size=64, lr=5e-3),
    "addition": dict(steps=6000, hidden=96, embed=32, batch_size=64, lr=5e-3),
}
GLOBAL_DEFAULTS = dict(cell="gru", attention="bahdanau", layers=1, bidirectional=True,
                       dropout=0.0, teacher_forcing=1.0, beam=5, seed=0)


class UsageError(Exception):
    """A problem with the user's request (bad checkpoint, empty input): reported, no traceback."""


# ---------------------------------------------------------------------------------------------
# The model.


@dataclass
class ModelConfig:
    """Everything needed to rebuild the model (saved with the checkpoint)."""

    source_vocab: int
    target_vocab: int
    cell: str = "gru"
    attention: str = "bahdanau"
    layers: int = 1
    bidirectional: bool = True
    hidden: int = 64
    embed: int = 32
    dropout: float = 0.0


def build_model(config: ModelConfig) -> Seq2Seq:
    """The encoder-decoder of ``config``: a (bidirectional) encoder, and a decoder with the
    chosen attention ("none": the fixed-context model of chapter 15.8)."""
    encoder = Encoder(config.source_vocab, config.embed, config.hidden, config.layers,
                      cell=config.cell, bidirectional=config.bidirectional,
                      dropout=config.dropout, padding_idx=T.PAD)
    decoder = Decoder(config.target_vocab, config.embed, config.hidden, config.layers,
                      cell=config.cell,
                      attention=None if config.attention == "none" else config.attention,
                      encoder_hidden_size=encoder.output_size, dropout=config.dropout,
                      padding_idx=T.PAD)
    return Seq2Seq(encoder, decoder)


# ---------------------------------------------------------------------------------------------
# Training.


@dataclass
class TrainConfig:
    steps: int
    batch_size: int = 64
    lr: float = 5e-3
    clip: float = 1.0
    teacher_forcing: float = 1.0
    schedule: str | None = None
    eval_every: int = 0          # 0: five times in the run
    seed: int = 0


def endless_batches(task: T.Task, pairs: Sequence[T.Pair], source_vocab: T.Vocab,
                    target_vocab: T.Vocab, batch_size: int,
                    rng: np.random.Generator) -> Iterator[T.Batch]:
    """Shuffled batches of ``pairs``, epoch after epoch."""
    while True:
        yield from T.batches(task, pairs, source_vocab, target_vocab, batch_size, rng)


def train(model: Seq2Seq, task: T.Task, splits: T.Splits, source_vocab: T.Vocab,
          target_vocab: T.Vocab, config: TrainConfig, *, progress: bool | None = None,
          log: Any = print, valid_size: int = 500) -> dict[str, float]:
    """Trains ``model`` for ``config.steps`` steps of Adam (gradient norm clipped, cosine
    learning-rate decay to 5%), evaluating greedy exact match on the validation set now and
    then. Returns the smoothed final training loss, the training time in seconds (validation
    excluded) and the target tokens per second."""
    from tqdm import tqdm

    if progress is None:
        progress = sys.stderr.isatty()
    schedule = parse_schedule(config.schedule) if config.schedule else None
    optimizer = optim.Adam(model.parameters(), lr=config.lr)
    scheduler = optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s / config.steps,
                                                                            1.0))))
    rng = np.random.default_rng(config.seed)
    stream = endless_batches(task, splits.train, source_vocab, target_vocab, config.batch_size,
                             rng)
    every = config.eval_every or max(config.steps // 5, 1)
    bar = tqdm(total=config.steps, disable=not progress, unit="step", dynamic_ncols=True,
               leave=False)
    write = bar.write if progress else log
    tokens, start, smooth, evaluating = 0, time.perf_counter(), None, 0.0
    model.train()
    for step in range(config.steps):
        ratio = schedule(step) if schedule else config.teacher_forcing
        batch = next(stream)
        logits = model(batch.src, batch.src_lengths, batch.tgt, teacher_forcing=ratio)
        loss = sequence_loss(logits, batch.tgt, pad=T.PAD)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        scheduler.step()
        tokens += batch.target_tokens
        value = loss.item()
        smooth = value if smooth is None else 0.95 * smooth + 0.05 * value
        elapsed = time.perf_counter() - start - evaluating   # training time only
        if step % 5 == 0 or step == config.steps - 1:
            bar.set_postfix(loss=f"{smooth:.3f}", tok_s=f"{tokens / elapsed:.0f}",
                            tf=f"{ratio:.2f}", refresh=False)
        bar.update()
        if (step + 1) % every == 0 or step == config.steps - 1:
            tick = time.perf_counter()
            accuracy = exact_match(model, task, splits.valid[:valid_size], source_vocab,
                                   target_vocab)
            model.train()
            evaluating += time.perf_counter() - tick
            write(f"step {step + 1:5d}/{config.steps}  loss {smooth:.4f}  valid exact "
                  f"{accuracy:6.1%}  tf {ratio:.2f}  {tokens / elapsed:6.0f} tok/s  "
                  f"{elapsed:5.0f} s")
    bar.close()
    model.eval()
    elapsed = time.perf_counter() - start - evaluating
    return {"loss": float(smooth), "seconds": elapsed, "tokens_per_second": tokens / elapsed}


# ---------------------------------------------------------------------------------------------
# Decoding and evaluation.


@dataclass
class Output:
    """One decoded sentence: its tokens, joined text, log-probability and attention
    (len(tokens) + 1 for <eos>, L_src), or None."""

    tokens: list[str]
    text: str
    log_prob: float
    attention: np.ndarray | None


def max_output_len(batch: T.Batch) -> int:
    """A generous bound on the output length: the source length plus 10 (every task here
    writes at most about as many tokens as it reads, or a short fixed-length answer)."""
    return int(batch.src_lengths.max()) + 10


def translate_pairs(model: Seq2Seq, task: T.Task, pairs: Sequence[T.Pair],
                    source_vocab: T.Vocab, target_vocab: T.Vocab, *, beam: int = 1,
                    batch_size: int = 250) -> list[Output]:
    """Greedy (``beam=1``) or beam-search outputs for the sources of ``pairs``."""
    model.eval()
    outputs = []
    for start in range(0, len(pairs), batch_size):
        batch = T.encode_batch(task, pairs[start:start + batch_size], source_vocab,
                               target_vocab)
        kwargs = dict(max_len=max_output_len(batch), bos=T.BOS, eos=T.EOS)
        if beam <= 1:
            decoded = greedy_decode(model, batch.src, batch.src_lengths, **kwargs)
            found = [(ids, score, None if decoded.attention is None else decoded.attention[i])
                     for i, (ids, score) in enumerate(zip(decoded.tokens, decoded.scores,
                                                          strict=True))]
        else:
            hyps = beam_search(model, batch.src, batch.src_lengths, beam_size=beam, **kwargs)
            found = [(h[0].tokens, h[0].log_prob, h[0].attention) for h in hyps]
        for (ids, score, attention), length in zip(found, batch.src_lengths, strict=True):
            words = target_vocab.decode(ids)
            if attention is not None:
                attention = np.asarray(attention)[:len(ids), :int(length)]
            outputs.append(Output(words, task.join_target(words), float(score), attention))
    return outputs


def exact_match(model: Seq2Seq, task: T.Task, pairs: Sequence[T.Pair], source_vocab: T.Vocab,
                target_vocab: T.Vocab) -> float:
    """The fraction of ``pairs`` whose greedy output is exactly the target."""
    outputs = translate_pairs(model, task, pairs, source_vocab, target_vocab)
    return float(np.mean([out.text == target for out, (_, target) in zip(outputs, pairs,
                                                                        strict=True)]))


def metrics(task: T.Task, outputs: Sequence[Output], pairs: Sequence[T.Pair]) -> dict[str, float]:
    """Exact match, token accuracy, BLEU and chrF of ``outputs`` against the targets.

    Token accuracy: the reference tokens (and its <eos>) matched by the output token at the
    same position, over all reference tokens. BLEU is computed on characters for
    character-level targets (one "word" such as 2026-11-25 would make word BLEU all or
    nothing), on sacrebleu's standard 13a words otherwise.
    """
    import sacrebleu

    hyps = [out.text for out in outputs]
    refs = [target for _, target in pairs]
    matched = total = 0
    for out, ref in zip(outputs, refs, strict=True):
        ref_tokens = [*task.target_tokens(ref), None]
        hyp_tokens = [*out.tokens, None]
        matched += sum(a == b for a, b in zip(ref_tokens, hyp_tokens, strict=False))
        total += len(ref_tokens)
    tokenize = "char" if task.target_level == "char" else "13a"
    return {
        "exact": float(np.mean([h == r for h, r in zip(hyps, refs, strict=True)])),
        "token_accuracy": matched / max(total, 1),
        "bleu": sacrebleu.corpus_bleu(hyps, [refs], tokenize=tokenize).score,
        "chrf": sacrebleu.corpus_chrf(hyps, [refs]).score,
    }


# ---------------------------------------------------------------------------------------------
# Attention heatmaps (matplotlib is imported here only).


def _label(token: str) -> str:
    return "␣" if token == " " else token


def plot_attention(items: Sequence[tuple[list[str], list[str], np.ndarray]], path: Path,
                   title: str = "") -> Path:
    """One heatmap per (source tokens, output tokens, weights (len(output) + 1, len(source)))
    item: a row per output token (and <eos>), a column per source token."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(len(items), 2)
    rows = math.ceil(len(items) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.2 * rows), squeeze=False)
    for ax, (src, out, weights) in zip(axes.flat, items, strict=False):
        ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(src)), [_label(t) for t in src], fontsize=8,
                      rotation=90 if max(map(len, src)) > 2 else 0)
        out_labels = [_label(t) for t in out] + ["<eos>"]
        ax.set_yticks(range(weights.shape[0]), out_labels[:weights.shape[0]], fontsize=8)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
    for ax in list(axes.flat)[len(items):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.97) if title else (0, 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# Checkpoints.


def save_checkpoint(path: Path, model: Seq2Seq, task: T.Task, model_config: ModelConfig,
                    source_vocab: T.Vocab, target_vocab: T.Vocab,
                    extra: dict[str, Any]) -> None:
    """Weights, model settings, task and vocabularies in one ``minigrad.save`` npz (the
    vocabularies as JSON token lists: no pickle)."""
    mg.save({"format": CHECKPOINT_FORMAT,
             "task": {"name": task.name, "params": task.params},
             "model_config": asdict(model_config),
             "vocab": {"source": source_vocab.tokens, "target": target_vocab.tokens},
             "model": model.state_dict(),
             **extra}, path)


def load_checkpoint(path: Path, task_hint: str = "dates"
                    ) -> tuple[Seq2Seq, T.Task, T.Vocab, T.Vocab, dict[str, Any]]:
    """The model, task and vocabularies saved at ``path``; ``UsageError`` saying what is wrong
    when the file is missing, is not such a checkpoint, or does not fit its own settings."""
    if not path.is_file():
        raise UsageError(f"no checkpoint at {path}; train one first: "
                         f"python examples/translate.py --task {task_hint} --out {path.parent}")
    try:
        saved = mg.load(path)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if saved.get("format") != CHECKPOINT_FORMAT:
        raise UsageError(f"{path} is a minigrad checkpoint but not one written by "
                         f"translate.py (no '{CHECKPOINT_FORMAT}' marker)")
    try:
        task = T.get_task(saved["task"]["name"], **saved["task"]["params"])
        source_vocab = T.Vocab.from_tokens(saved["vocab"]["source"])
        target_vocab = T.Vocab.from_tokens(saved["vocab"]["target"])
        config = ModelConfig(**saved["model_config"])
        if (config.source_vocab, config.target_vocab) != (len(source_vocab),
                                                          len(target_vocab)):
            raise ValueError(f"the model expects vocabularies of {config.source_vocab} and "
                             f"{config.target_vocab} tokens, the checkpoint holds "
                             f"{len(source_vocab)} and {len(target_vocab)}")
        model = build_model(config)
        model.load_state_dict(saved["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise UsageError(f"{path} does not match the model it describes: "
                         f"{type(err).__name__}: {err}") from None
    model.eval()
    return model, task, source_vocab, target_vocab, saved


# ---------------------------------------------------------------------------------------------
# The command.


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="tasks (and their default steps and hidden size):\n" + "\n".join(
            f"  {name:14s} {T.get_task(name).description}\n  {'':14s} "
            f"{TASK_DEFAULTS[name]['steps']} steps, hidden {TASK_DEFAULTS[name]['hidden']}"
            for name in T.TASKS))
    parser.add_argument("--task", choices=list(T.TASKS), default=None,
                        help="what to learn (default: dates)")
    model = parser.add_argument_group("model")
    model.add_argument("--cell", choices=["gru", "lstm", "rnn"], help="(default: gru)")
    model.add_argument("--attention", choices=ATTENTIONS,
                       help="'none' is the fixed-context model (default: bahdanau)")
    model.add_argument("--layers", type=int, help="stacked recurrent layers (default 1)")
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction,
                       default=None, help="bidirectional encoder (default: yes)")
    model.add_argument("--hidden", type=int, help="hidden size (per direction in the encoder)")
    model.add_argument("--embed", type=int, help="embedding size (default 32)")
    model.add_argument("--dropout", type=float, help="(default 0)")
    training = parser.add_argument_group("training")
    length = training.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="optimizer steps")
    length.add_argument("--epochs", type=float, help="passes over the training set "
                                                    "(instead of --steps)")
    training.add_argument("--batch-size", type=int, help="(default 64)")
    training.add_argument("--lr", type=float, help="Adam learning rate (cosine-decayed)")
    training.add_argument("--teacher-forcing", type=float,
                          help="probability of feeding the true previous token (default 1)")
    training.add_argument("--schedule", help="scheduled sampling instead of a constant "
                          "ratio, e.g. 'linear:steps=1000,end=0.5' or 'inverse_sigmoid:k=200'")
    training.add_argument("--train-size", type=int, help="training pairs (default per task)")
    training.add_argument("--test-size", type=int, help="test pairs (default per task)")
    training.add_argument("--seed", type=int, help="data, initialisation and batch order "
                          "(default 0)")
    training.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                          help="progress bar (default: when stderr is a terminal)")
    output = parser.add_argument_group("decoding and output")
    output.add_argument("--beam", type=int, help="beam size (1: greedy only; default 5)")
    output.add_argument("--show", type=int, default=6, help="test examples to print")
    output.add_argument("--out", type=Path,
                        help="directory for checkpoint.npz and attention.png "
                             "(default: out/translate/TASK)")
    output.add_argument("--translate", nargs="+", metavar="TEXT",
                        help="translate TEXT with the checkpoint in --out instead of training")
    output.add_argument("--heatmap", type=Path, help="with --translate: write the attention "
                                                     "of the translation to this PNG")
    return parser.parse_args(argv)


def resolve(args: argparse.Namespace, name: str) -> Any:
    """A flag's value: given on the command line, else the task's default, else global."""
    value = getattr(args, name)
    if value is not None:
        return value
    return TASK_DEFAULTS[args.task].get(name, GLOBAL_DEFAULTS.get(name))


def show_examples(rows: Sequence[tuple[str, str, Output, Output | None]]) -> None:
    for source, reference, greedy, beam in rows:
        mark = "ok" if greedy.text == reference else "WRONG"
        print(f"  source     {source}")
        print(f"  reference  {reference}")
        print(f"  greedy     {greedy.text}   [{mark}]")
        if beam is not None:
            mark = "ok" if beam.text == reference else "WRONG"
            print(f"  beam       {beam.text}   [{mark}]")
        print()


def heatmap_examples(pairs: Sequence[T.Pair], count: int = 4, among: int = 24) -> list[int]:
    """``count`` of the first ``among`` pairs, from the longest source to a short one (so that
    the heatmaps show different formats and lengths)."""
    by_length = sorted(range(min(among, len(pairs))), key=lambda i: -len(pairs[i][0]))
    if len(by_length) <= count:
        return by_length
    picks = np.linspace(0, len(by_length) - 1, count).round().astype(int)
    return [by_length[p] for p in dict.fromkeys(picks)]


def run_training(args: argparse.Namespace) -> None:
    args.task = args.task or "dates"
    out = args.out or Path("out") / "translate" / args.task
    if args.schedule:
        try:
            parse_schedule(args.schedule)
        except (ValueError, TypeError) as err:
            raise UsageError(f"--schedule {args.schedule!r}: {err}") from None
    if not 0.0 <= resolve(args, "teacher_forcing") <= 1.0:
        raise UsageError(f"--teacher-forcing must be in [0, 1], got {args.teacher_forcing}")
    seed = resolve(args, "seed")
    task = T.get_task(args.task)
    sizes = list(task.sizes)
    if args.train_size is not None:
        sizes[0] = args.train_size
    if args.test_size is not None:
        sizes[1] = min(sizes[1], args.test_size)
        sizes[2] = args.test_size
    t0 = time.perf_counter()
    splits = T.make_splits(task, seed=seed, sizes=tuple(sizes))
    source_vocab, target_vocab = T.build_vocabs(task, splits.train)
    batch_size = resolve(args, "batch_size")
    steps = args.steps if args.epochs is None else \
        max(1, round(args.epochs * math.ceil(len(splits.train) / batch_size)))
    steps = steps or TASK_DEFAULTS[args.task]["steps"]

    if steps < 1:
        raise UsageError(f"--steps must be at least 1, got {steps}")

    mg.manual_seed(seed)
    config = ModelConfig(len(source_vocab), len(target_vocab), cell=resolve(args, "cell"),
                         attention=resolve(args, "attention"), layers=resolve(args, "layers"),
                         bidirectional=resolve(args, "bidirectional"),
                         hidden=resolve(args, "hidden"), embed=resolve(args, "embed"),
                         dropout=resolve(args, "dropout"))
    try:
        model = build_model(config)
    except ValueError as err:
        hint = " (or add --no-bidirectional)" if "bidirectional" in str(err) else ""
        raise UsageError(f"cannot build this model: {err}{hint}") from None
    print(f"task {task.name}: {task.description}")
    print(f"  {len(splits.train)} train / {len(splits.valid)} valid / {len(splits.test)} test "
          f"pairs, vocabularies {len(source_vocab)} -> {len(target_vocab)} tokens "
          f"({time.perf_counter() - t0:.1f} s to generate), e.g. {splits.train[0]}")
    print(f"model: {config.cell.upper()} encoder-decoder ({config.layers} layer(s), "
          f"{'bidirectional' if config.bidirectional else 'one-way'}, hidden {config.hidden})"
          f", attention {config.attention}, {model.num_parameters():,} parameters")
    train_config = TrainConfig(steps=steps, batch_size=batch_size, lr=resolve(args, "lr"),
                               teacher_forcing=resolve(args, "teacher_forcing"),
                               schedule=args.schedule, seed=seed)
    print(f"training: {steps} steps of batch {batch_size}, Adam lr {train_config.lr}, "
          f"teacher forcing {args.schedule or train_config.teacher_forcing}")
    stats = train(model, task, splits, source_vocab, target_vocab, train_config,
                  progress=args.progress)
    print(f"trained in {stats['seconds']:.0f} s ({stats['tokens_per_second']:.0f} target "
          f"tokens/s), final loss {stats['loss']:.4f}")

    t1 = time.perf_counter()
    beam = resolve(args, "beam")
    greedy = translate_pairs(model, task, splits.test, source_vocab, target_vocab)
    results = {"greedy": metrics(task, greedy, splits.test)}
    beams = None
    if beam > 1:
        beams = translate_pairs(model, task, splits.test, source_vocab, target_vocab, beam=beam)
        results[f"beam {beam}"] = metrics(task, beams, splits.test)
    print(f"\ntest set ({len(splits.test)} pairs never seen in training; "
          f"{time.perf_counter() - t1:.0f} s):")
    print(f"  {'decoding':10s} {'exact':>8s} {'token acc':>10s} {'BLEU':>7s} {'chrF':>7s}")
    for name, m in results.items():
        print(f"  {name:10s} {m['exact']:8.2%} {m['token_accuracy']:10.2%} {m['bleu']:7.2f} "
              f"{m['chrf']:7.2f}")

    wrong = [i for i, out in enumerate(greedy) if out.text != splits.test[i][1]]
    shown = list(range(min(args.show, len(greedy))))
    shown = shown[:max(args.show - min(len(wrong), args.show // 2), 0)]
    shown += [i for i in wrong if i not in shown][:args.show - len(shown)]
    print(f"\nexamples from the test set ({len(wrong)} greedy errors in all):")
    show_examples([(splits.test[i][0], splits.test[i][1], greedy[i],
                    None if beams is None else beams[i]) for i in shown])

    out.mkdir(parents=True, exist_ok=True)
    path = out / CHECKPOINT
    save_checkpoint(path, model, task, config, source_vocab, target_vocab, {
        "seed": seed, "steps": steps, "metrics": results,
        "train_seconds": stats["seconds"]})
    print(f"saved {path}")
    if config.attention != "none" and greedy and greedy[0].attention is not None:
        items = [(task.source_tokens(splits.test[i][0]), greedy[i].tokens, greedy[i].attention)
                 for i in heatmap_examples(splits.test)]
        png = plot_attention(items, out / "attention.png",
                             f"{task.name}: {config.attention} attention (greedy decoding)")
        print(f"wrote {png}")
    print(f"try: python examples/translate.py --out {out} --translate "
          f"{task.examples[0]!r}" if task.examples else "")


def run_translate(args: argparse.Namespace) -> None:
    out = args.out or Path("out") / "translate" / (args.task or "dates")
    model, task, source_vocab, target_vocab, _ = load_checkpoint(out / CHECKPOINT,
                                                                 args.task or "dates")
    if args.task is not None and args.task != task.name:
        raise UsageError(f"{out / CHECKPOINT} was trained on task {task.name!r}, not "
                         f"{args.task!r}")
    beam = resolve(argparse.Namespace(**{**vars(args), "task": task.name}), "beam")
    heatmaps = []
    for text in args.translate:
        if not text.strip():
            raise UsageError("nothing to translate: the input is empty")
        tokens = task.source_tokens(text)
        unknown = source_vocab.unknown(tokens)
        if unknown:
            kind = "characters" if task.source_level == "char" else "words"
            print(f"note: {len(unknown)} unknown {kind} mapped to <unk> (the model never saw "
                  f"them): {', '.join(repr(t) for t in unknown)}")
        pairs = [(text, "")]
        greedy = translate_pairs(model, task, pairs, source_vocab, target_vocab)[0]
        print(f"source  {text}")
        print(f"greedy  {greedy.text}   (log-prob {greedy.log_prob:.3f})")
        if beam > 1:
            best = translate_pairs(model, task, pairs, source_vocab, target_vocab, beam=beam)[0]
            print(f"beam {beam:<2d} {best.text}   (log-prob {best.log_prob:.3f})")
        if greedy.attention is not None:
            heatmaps.append((tokens, greedy.tokens, greedy.attention))
    if args.heatmap:
        if not heatmaps:
            raise UsageError("--heatmap: this model has no attention to plot")
        plot_attention(heatmaps[:8], args.heatmap, f"{task.name}: attention (greedy decoding)")
        print(f"wrote {args.heatmap}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.translate is not None:
            run_translate(args)
        else:
            run_training(args)
    except UsageError as err:
        print(f"translate.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
