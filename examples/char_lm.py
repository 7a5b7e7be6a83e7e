"""Character-level language model: an LSTM or GRU trained with truncated BPTT, then sampled.

    python examples/char_lm.py                      # LSTM on Python's own documentation
    python examples/char_lm.py --cell gru --epochs 2 --text my.txt
    python examples/char_lm.py --load char_lm.npz --prompt "The for statement" --temperature 0.5
    python examples/char_lm.py --no-detach          # the pitfall: fails at the second chunk

Corpus: by default the text of Python's interactive help topics (``help("for")``), which
ships with CPython as ``pydoc_data/topics.py``: about 465,000 characters of English prose with
code snippets (the topics joined in alphabetical order, 103 distinct symbols). It is always
there offline; ``--text FILE`` trains on any UTF-8 file instead. The last ``--val-fraction``
of the text is held out for validation (the symbol set is taken from the whole text so that
every held-out character has an id; no other statistic of the tail is used).

Training (truncated back-propagation through time):

- the training text is cut into ``--batch`` contiguous streams that are read side by side, so
  the row b of chunk k + 1 continues the row b of chunk k;
- the state is carried from one chunk of ``--bptt`` steps to the next, and detached at each
  boundary (``rnn.detach_state`` inside ``rnn.truncated_bptt``): the forward sees the whole
  history, the backward stops after ``--bptt`` steps, and memory stays bounded;
- gradients are clipped to norm ``--clip`` (``minigrad.nn.utils.clip_grad_norm_``), and Adam's
  learning rate decays along a cosine from ``--lr`` to a tenth of it;
- the progress bar (tqdm, on stderr, off when that is not a terminal) shows the loss in nats
  and in bits per character (bpc = nats / ln 2; perplexity = e^nats = 2^bpc).

``--no-detach`` forgets the detach: the second chunk's backward reaches into the first chunk's
graph, whose buffers the first backward freed. minigrad refuses with an error that names the
cause, instead of silently keeping every chunk's graph (and its memory) alive; this script
prints it and exits with status 1.

The checkpoint (``--save``, ``minigrad.save``: an ``.npz`` file, no pickle) holds the weights,
the vocabulary and the configuration; ``--load`` rebuilds the model from it and only samples.
Sampling is seeded by ``--seed``, so a reloaded checkpoint gives the same text as the run
that saved it.

Default run (LSTM 256, 5 epochs): about 1.5 minutes on 2 shared cores, from 6.7 bpc (a
uniform guess) to about 1.45 bpc on the held-out tail.
"""

from __future__ import annotations

# isort: off
import _process_settings  # noqa: F401  (first: BLAS threads and malloc, before numpy loads)
# isort: on

import argparse
import importlib
import math
import sys
import textwrap
import time
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

import minigrad as mg
import minigrad.functional as F
import rnn
from minigrad import nn, optim
from minigrad.optim import lr_scheduler

LN2 = math.log(2.0)
CELLS = {"lstm": rnn.LSTM, "gru": rnn.GRU}


# ---------------------------------------------------------------------------------- data
def default_corpus() -> str:
    """Python's help-topic texts (``pydoc_data/topics.py``, shipped with CPython)."""
    try:
        topics = importlib.import_module("pydoc_data.topics").topics
    except ImportError as err:  # some distributions strip it; any text file will do
        raise SystemExit(f"error: this Python has no pydoc_data.topics ({err}); "
                         "pass --text FILE") from err
    return "\n\n".join(topics[key] for key in sorted(topics))


class Vocabulary:
    """Characters <-> ids; ids follow sorted character order."""

    def __init__(self, chars: list[str]) -> None:
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"characters not in the vocabulary: {''.join(unknown)!r}")
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: list[int] | np.ndarray) -> str:
        return "".join(self.chars[i] for i in ids)


def as_streams(ids: np.ndarray, n_streams: int) -> np.ndarray:
    """(L, N) int64: the text cut into N contiguous streams, stream b in column b (time-first,
    the rnn layers' default). The few characters that do not fill a row are dropped."""
    length = len(ids) // n_streams
    if length < 2:
        raise SystemExit(f"error: {len(ids)} characters cannot fill {n_streams} streams of at "
                         "least 2 characters; use a longer text or a smaller --batch")
    return np.ascontiguousarray(ids[:length * n_streams].reshape(n_streams, length).T)


# --------------------------------------------------------------------------------- model
@dataclass
class Config:
    """Everything needed to rebuild the model (stored in the checkpoint)."""

    cell: str = "lstm"
    vocab_size: int = 0
    embed: int = 64
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.0


class CharLM(nn.Module):
    """Embedding -> LSTM/GRU -> Linear: a distribution over the next character at each step.

    Shape:
        forward: ids (L, N) int64, state -> logits (L, N, V), new state
        step: ids (N,) int64, state -> logits (N, V), new state (streaming, for sampling)
    """

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed)
        self.rnn = CELLS[config.cell](config.embed, config.hidden, config.layers,
                                      dropout=config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, ids: mg.Tensor, state=None):
        output, state = self.rnn(self.embedding(ids), state)
        return self.head(output), state

    def step(self, ids: mg.Tensor, state=None):
        output, state = self.rnn.step(self.embedding(ids), state)
        return self.head(output), state


# ------------------------------------------------------------------------------ training
def evaluate(model: CharLM, streams: np.ndarray, chunk_len: int = 256) -> float:
    """Mean cross-entropy (nats per character) over (L, N) streams, state carried along."""
    model.eval()
    total, count, state = 0.0, 0, None
    with mg.no_grad():
        data = mg.tensor(streams)
        for x, y in rnn.chunks(data[:-1], data[1:], chunk_len=chunk_len):
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                   reduction="sum")
            total += loss.item()
            count += y.shape[0] * y.shape[1]
    model.train()
    return total / count


class DetachForgotten(Exception):
    """The engine refused a backward into an earlier chunk's (freed) graph."""

    def __init__(self, chunk: int, error: RuntimeError) -> None:
        super().__init__(str(error))
        self.chunk, self.error = chunk, error


def train_epoch(model: CharLM, optimizer: optim.Optimizer, schedule: lr_scheduler.LRScheduler,
                streams: np.ndarray, *, bptt: int, clip: float, detach: bool,
                bar: tqdm) -> list[float]:
    """One pass over the (L, N) training streams with truncated BPTT; chunk losses in nats.

    Raises ``DetachForgotten`` when ``detach`` is False (at the second chunk)."""
    data = mg.tensor(streams)
    chunk_index = 0
    recent: list[float] = []

    def step(x, y, state):
        logits, state = model(x, state)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), state

    def on_loss(loss):
        nonlocal chunk_index
        chunk_index += 1
        optimizer.zero_grad()
        try:
            loss.backward()
        except RuntimeError as err:
            if detach:
                raise
            raise DetachForgotten(chunk_index, err) from err
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        schedule.step()
        recent.append(loss.item())
        mean = float(np.mean(recent[-50:]))
        bar.update(1)
        bar.set_postfix({"loss": f"{mean:.3f}", "bpc": f"{mean / LN2:.3f}"}, refresh=False)

    losses, _ = rnn.truncated_bptt(step, data[:-1], data[1:], bptt, detach=detach,
                                   on_loss=on_loss)
    return losses


def bpc_text(nats: float) -> str:
    return f"{nats / LN2:.3f} bpc (perplexity {math.exp(nats):.2f})"


# ------------------------------------------------------------------------------ sampling
def sample(model: CharLM, vocab: Vocabulary, prompt: str, length: int, temperature: float,
           seed: int) -> str:
    """``length`` characters continuing ``prompt``, drawn from softmax(logits / temperature)
    (temperature 0: always the most likely character). Deterministic given ``seed``.

    The prompt runs through the network in one forward call; each new character is then fed
    back with the layer's streaming ``step``, carrying the state.
    """
    rng = np.random.default_rng(seed)
    model.eval()
    chosen: list[int] = []
    with mg.no_grad():
        ids = vocab.encode(prompt or "\n")
        logits, state = model(mg.tensor(ids[:, None]))       # (P, 1, V)
        last = logits.numpy()[-1, 0]
        for _ in range(length):
            next_id = pick(last, temperature, rng)
            chosen.append(next_id)
            logits, state = model.step(mg.tensor(np.array([next_id])), state)
            last = logits.numpy()[0]
    model.train()
    return prompt + vocab.decode(chosen)


def pick(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """One id drawn from softmax(logits / temperature), computed in float64."""
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    cumulative = np.cumsum(p)
    return int(min(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"),
                   len(p) - 1))


# ---------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", help="a UTF-8 text file (default: Python's help topics)")
    parser.add_argument("--max-chars", type=int, default=None,
                        help="use only the first N characters of the text")
    parser.add_argument("--val-fraction", type=float, default=0.05,
                        help="held-out tail of the text for validation")
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32, help="number of parallel streams")
    parser.add_argument("--bptt", type=int, default=64, help="chunk length k of truncated BPTT")
    parser.add_argument("--lr", type=float, default=1e-2,
                        help="Adam's initial learning rate (cosine decay to lr / 10)")
    parser.add_argument("--clip", type=float, default=1.0, help="max gradient norm")
    parser.add_argument("--no-detach", action="store_true",
                        help="do not detach the state between chunks (shows the pitfall)")
    parser.add_argument("--save", default="char_lm.npz",
                        help="checkpoint path ('' to skip saving)")
    parser.add_argument("--load", help="a checkpoint to sample from (no training)")
    parser.add_argument("--prompt", default="The ")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--sample-length", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def load_checkpoint(path: str) -> tuple[CharLM, Vocabulary, dict]:
    """The model, vocabulary and metrics stored by ``save_checkpoint``."""
    checkpoint = mg.load(path)
    config = Config(**checkpoint["config"])
    model = CharLM(config)
    model.load_state_dict(checkpoint["model"])
    return model, Vocabulary(checkpoint["vocab"]), checkpoint.get("metrics", {})


def save_checkpoint(path: str, model: CharLM, vocab: Vocabulary, metrics: dict) -> None:
    """Weights, vocabulary, configuration and metrics in one ``.npz`` (``minigrad.save``)."""
    mg.save({"model": model.state_dict(), "vocab": vocab.chars,
             "config": asdict(model.config), "metrics": metrics}, path)


def train(args: argparse.Namespace) -> tuple[CharLM, Vocabulary, dict] | int:
    """Trains as ``args`` say; returns (model, vocabulary, metrics), or an exit status."""
    if args.text:
        with open(args.text, encoding="utf-8") as f:
            text, source = f.read(), args.text
    else:
        text, source = default_corpus(), "Python's help topics (pydoc_data/topics.py)"
    if args.max_chars:
        text = text[:args.max_chars]
    vocab = Vocabulary.from_text(text)
    try:  # check the prompt now rather than after training
        vocab.encode(args.prompt)
    except ValueError as err:
        print(f"error: --prompt: {err}", file=sys.stderr)
        return 2
    ids = vocab.encode(text)
    n_val = int(len(ids) * args.val_fraction)
    if n_val < 2:
        raise SystemExit("error: the validation tail is empty; use a longer text or a larger "
                         "--val-fraction")
    train_streams = as_streams(ids[:-n_val], args.batch)
    val_streams = as_streams(ids[-n_val:], min(args.batch, n_val // 2))
    chunks_per_epoch = math.ceil((len(train_streams) - 1) / args.bptt)
    print(f"corpus: {source}, {len(text):,} characters, {len(vocab)} symbols; "
          f"train {len(ids) - n_val:,}, validation (the tail) {n_val:,}")

    config = Config(args.cell, len(vocab), args.embed, args.hidden, args.layers, args.dropout)
    model = CharLM(config)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    # cosine decay of the learning rate over all chunks, to a tenth of --lr at the end
    schedule = lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, chunks_per_epoch * args.epochs), eta_min=args.lr / 10)
    print(f"model: {args.cell.upper()} {args.layers}x{args.hidden}, embedding {args.embed}, "
          f"{model.num_parameters():,} parameters; truncated BPTT over {args.batch} streams "
          f"x {args.bptt} steps, {chunks_per_epoch} chunks per epoch, clip {args.clip}")
    start_val = evaluate(model, val_streams)
    print(f"before training: validation {bpc_text(start_val)}; a uniform guess is "
          f"{math.log2(len(vocab)):.3f} bpc")

    metrics = {"start_val_bpc": start_val / LN2}
    started = time.perf_counter()
    bar = tqdm(total=chunks_per_epoch * args.epochs, disable=None, unit="chunk",
               dynamic_ncols=True)
    try:
        for epoch in range(1, args.epochs + 1):
            bar.set_description(f"epoch {epoch}/{args.epochs}")
            epoch_start = time.perf_counter()
            losses = train_epoch(model, optimizer, schedule, train_streams, bptt=args.bptt,
                                 clip=args.clip, detach=not args.no_detach, bar=bar)
            if epoch == 1:
                metrics["first_chunk_bpc"] = losses[0] / LN2
                tqdm.write(f"first chunk: {losses[0] / LN2:.3f} bpc")
            val = evaluate(model, val_streams)
            metrics.update(train_bpc=float(np.mean(losses)) / LN2, val_bpc=val / LN2)
            tqdm.write(f"epoch {epoch}: train {float(np.mean(losses)) / LN2:.3f} bpc "
                       f"(last chunk {losses[-1] / LN2:.3f}), validation {bpc_text(val)}, "
                       f"{time.perf_counter() - epoch_start:.1f} s")
    except DetachForgotten as failure:
        bar.close()
        print(f"error: training stopped at chunk {failure.chunk} of epoch 1 because the "
              "state was not detached between chunks (--no-detach).\nminigrad says:\n"
              + textwrap.fill(str(failure.error), width=96, initial_indent="    ",
                              subsequent_indent="    ")
              + "\nFix: call rnn.detach_state(state) at every chunk boundary (what "
              "rnn.truncated_bptt does by default).", file=sys.stderr)
        return 1
    bar.close()
    metrics["train_seconds"] = time.perf_counter() - started
    print(f"trained in {metrics['train_seconds']:.1f} s")
    return model, vocab, metrics


def main(argv: list[str] | None = None) -> int:
    """Runs the example; returns the process exit status."""
    args = parse_args(argv)
    mg.manual_seed(args.seed)
    if args.load:
        model, vocab, metrics = load_checkpoint(args.load)
        saved = metrics.get("val_bpc")
        print(f"loaded {args.load}: {model.rnn!r}, {len(vocab)} symbols"
              + (f", validation {saved:.3f} bpc when saved" if saved is not None else ""))
    else:
        result = train(args)
        if isinstance(result, int):
            return result
        model, vocab, metrics = result
        if args.save:
            save_checkpoint(args.save, model, vocab, metrics)
            print(f"saved {args.save}")
    try:
        text = sample(model, vocab, args.prompt, args.sample_length, args.temperature,
                      args.seed)
    except ValueError as err:
        print(f"error: --prompt: {err}", file=sys.stderr)
        return 2
    print(f"--- sample (temperature {args.temperature}, seed {args.seed}) ---")
    print(text)
    print("--- end of sample ---")
    return 0


if __name__ == "__main__":
    sys.exit(main())
