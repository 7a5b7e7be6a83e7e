"""How long can each cell remember? The copy (delayed recall) task, per cell and delay T.

    python examples/copy_memory.py [--cells rnn,gru,lstm,gru-default,lstm-default]
        [--delays 10,20,30,50,100] [--seeds 4] [--steps 1000] [--jobs 2]

The task. A sequence starts with one of K = 8 symbols, then T distractor steps (random symbols
from 8 others, or blanks with ``--filler blank``), then a recall marker; at the marker the model
must name the first symbol. The loss is taken at the recall step only, so the only way to learn
is through T + 1 steps of back-propagation through time. Chance is 1/8 = 12.5%. This is
Hochreiter & Schmidhuber's (1997) long-time-lag experiment 2b (random distractors), recalled as
one symbol.

The protocol. For each cell, delay T and seed: a fresh model, Adam (lr 1e-2), gradient norm
clipped at 1, batches of 64 fresh sequences, trained until a held-out batch is recalled with
99% accuracy or ``--steps`` steps have passed; then tested on 1,000 new sequences. The table
gives the mean test accuracy over seeds and how many seeds solved T (>= 99%).

The gates must *learn* to hold memory, and at the usual initialisation they start leaky: an
LSTM with forget-gate bias 1 has f ~ 0.73, and 0.73^50 ~ 1e-7, so nothing of the first symbol
reaches the loss at T = 50. The rows ``gru`` and ``lstm`` therefore use the *chrono*
initialisation of Tallec & Ollivier ("Can recurrent neural networks warp time?", ICLR 2018):
gate biases drawn so that the cells start with memory time-scales spread over 1 .. T_max
(T_max = the longest delay + 2):

- LSTM (rows i, f, g, o): ``b_f = log(u)``, ``b_i = -b_f``, u ~ U(1, T_max - 1).
- GRU: our GRU is the seed's ``h' = (1 - z) * h + z * n``, so *keeping* h means z -> 0: the
  update-gate bias is negative, ``b_z = -log(u)`` (PyTorch's z has the opposite sense).

``gru-default`` and ``lstm-default`` are the same cells at the library's default initialisation
(U(-1/sqrt(H), 1/sqrt(H)), LSTM forget bias 1). A vanilla RNN has no gates to initialise.
"""

from __future__ import annotations

# isort: off
import _process_settings  # noqa: F401  (first: BLAS threads and malloc, before numpy loads)
# isort: on

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

import minigrad as mg
import minigrad.functional as F
import rnn
from minigrad import nn, optim

SYMBOLS = 8                      # K, the symbols to remember
DISTRACTORS = 8                  # the filler symbols of --filler noise
BLANK = SYMBOLS + DISTRACTORS    # input index of the blank (--filler blank)
RECALL = BLANK + 1               # input index of the recall marker
INPUT_SIZE = RECALL + 1
LAYERS = {"rnn": rnn.RNN, "gru": rnn.GRU, "lstm": rnn.LSTM}
CELLS = ("rnn", "gru", "lstm", "gru-default", "lstm-default")


def make_batch(delay: int, batch: int, rng: np.random.Generator,
               filler: str = "noise") -> tuple[mg.Tensor, np.ndarray]:
    """One-hot inputs (delay + 2, N, INPUT_SIZE) and the symbols to recall (N,)."""
    if filler == "noise":
        tokens = rng.integers(SYMBOLS, SYMBOLS + DISTRACTORS, (delay + 2, batch))
    elif filler == "blank":
        tokens = np.full((delay + 2, batch), BLANK)
    else:
        raise ValueError(f"filler must be 'noise' or 'blank', got {filler!r}")
    symbols = rng.integers(0, SYMBOLS, batch)
    tokens[0] = symbols
    tokens[-1] = RECALL
    return mg.tensor(np.eye(INPUT_SIZE, dtype=np.float32)[tokens]), symbols


def chrono_init(layer: nn.Module, horizon: float, rng: np.random.Generator) -> None:
    """Tallec & Ollivier's chrono initialisation of an LSTM's or GRU's gate biases: memory
    time-scales spread over 1 .. ``horizon`` steps (see the module docstring for the signs)."""
    hidden = layer.hidden_size
    for name, p in layer.named_parameters():
        if not name.startswith("bias"):
            continue
        log_t = np.log(rng.uniform(1.0, horizon - 1.0, hidden))
        if layer.mode == "LSTM":
            p.data[hidden:2 * hidden] = log_t      # forget gate: f = sigmoid(log t) = t/(1+t)
            p.data[:hidden] = -log_t               # input gate
        elif layer.mode == "GRU":
            p.data[hidden:2 * hidden] = -log_t     # update gate z -> 0 keeps h
        else:
            raise ValueError(f"chrono_init: {layer.mode} has no gates")


class Recaller(nn.Module):
    """A recurrent layer and a linear read-out of its output at the recall step.

    ``cell``: "rnn", "gru", "lstm" (chrono initialisation for the gated cells), or
    "gru-default", "lstm-default" (the library's default initialisation, forget bias 1).
    """

    def __init__(self, cell: str, hidden: int = 32, horizon: float = 102.0, *,
                 rng: np.random.Generator | None = None, impl: str = "fused") -> None:
        super().__init__()
        kind = cell.removesuffix("-default")
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        self.layer = LAYERS[kind](INPUT_SIZE, hidden, impl=impl)
        if cell == "lstm-default":
            self.layer.reset_parameters(forget_bias=1.0)
        elif kind != "rnn" and not cell.endswith("-default"):
            chrono_init(self.layer, horizon, rng or np.random.default_rng(0))
        self.readout = nn.Linear(hidden, SYMBOLS)

    def forward(self, inputs: mg.Tensor) -> mg.Tensor:
        output, _ = self.layer(inputs)
        return self.readout(output[-1])


@dataclass
class Config:
    steps: int = 1000       # training budget (batches)
    batch: int = 64
    hidden: int = 32
    lr: float = 1e-2
    clip: float = 1.0
    filler: str = "noise"
    horizon: float = 102.0  # T_max of the chrono initialisation
    check_every: int = 25   # held-out check for early stopping


def accuracy(model: nn.Module, delay: int, n: int, rng: np.random.Generator,
             filler: str) -> float:
    inputs, symbols = make_batch(delay, n, rng, filler)
    with mg.no_grad():
        predicted = model(inputs).data.argmax(-1)
    return float((predicted == symbols).mean())


def train(model: nn.Module, delay: int, config: Config, rng: np.random.Generator) -> int:
    """Trains ``model`` on fresh batches until a held-out batch of 256 is recalled with 99%
    accuracy or the budget is spent; returns the number of steps taken."""
    optimizer = optim.Adam(model.parameters(), lr=config.lr)
    check_rng = np.random.default_rng(rng.integers(2**32))
    for step in range(1, config.steps + 1):
        inputs, symbols = make_batch(delay, config.batch, rng, config.filler)
        loss = F.cross_entropy(model(inputs), symbols)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        if step % config.check_every == 0 and \
                accuracy(model, delay, 256, check_rng, config.filler) >= 0.99:
            return step
    return config.steps


def run(job: tuple[str, int, int, Config]) -> tuple[str, int, int, float, int, float]:
    """One (cell, delay, seed): train a fresh model, test it on 1,000 new sequences."""
    cell, delay, seed, config = job
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    mg.manual_seed(seed)
    model = Recaller(cell, config.hidden, config.horizon, rng=rng)
    steps = train(model, delay, config, rng)
    acc = accuracy(model, delay, 1000, np.random.default_rng(10_000 + seed), config.filler)
    return cell, delay, seed, acc, steps, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=",".join(CELLS),
                        help=f"comma-separated, from {', '.join(CELLS)}")
    parser.add_argument("--delays", default="10,20,30,50,100")
    parser.add_argument("--seeds", type=int, default=4, help="runs per cell and delay")
    parser.add_argument("--steps", type=int, default=Config.steps)
    parser.add_argument("--hidden", type=int, default=Config.hidden)
    parser.add_argument("--lr", type=float, default=Config.lr)
    parser.add_argument("--filler", choices=("noise", "blank"), default=Config.filler)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    cells = args.cells.split(",")
    delays = [int(d) for d in args.delays.split(",")]
    config = Config(steps=args.steps, hidden=args.hidden, lr=args.lr, filler=args.filler,
                    horizon=max(delays) + 2.0)

    print(f"Copy task: recall 1 of {SYMBOLS} symbols after T {args.filler} steps (chance "
          f"{1 / SYMBOLS:.1%}); hidden {config.hidden}, Adam lr {config.lr}, up to "
          f"{config.steps} steps of {config.batch}, {args.seeds} seeds per cell and T.")
    print("Mean test accuracy over seeds (seeds that solved T, >= 99%):\n")
    start = time.perf_counter()
    jobs = [(c, d, s, config) for d in delays for c in cells for s in range(args.seeds)]
    results: dict[tuple[str, int], list[tuple[float, int]]] = {}
    print("T".rjust(5) + "".join(c.upper().rjust(16) for c in cells), flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        done = {}
        for cell, delay, _, acc, steps, _ in pool.map(run, jobs):
            results.setdefault((cell, delay), []).append((acc, steps))
            done[delay] = done.get(delay, 0) + 1
            if done[delay] == len(cells) * args.seeds:
                row = []
                for c in cells:
                    accs = np.array([a for a, _ in results[(c, delay)]])
                    row.append(f"{accs.mean():7.1%} ({(accs >= 0.99).sum()}/{len(accs)})")
                print(f"{delay:5d}" + "".join(r.rjust(16) for r in row), flush=True)

    print("\nMemory: the longest T up to which every seed solved every delay tried:")
    for c in cells:
        solved = []
        for d in delays:
            if not all(a >= 0.99 for a, _ in results[(c, d)]):
                break
            solved.append(d)
        steps = [np.median([s for _, s in results[(c, d)]]) for d in delays]
        print(f"  {c:<13} {max(solved) if solved else '-':>4}   median steps per T: "
              + ", ".join(f"{d}: {s:.0f}" for d, s in zip(delays, steps, strict=True)))
    print(f"\n({time.perf_counter() - start:.0f} s wall, {args.jobs} worker processes)")


if __name__ == "__main__":
    main()
