"""Why LSTM and GRU beat a vanilla RNN, in one number per time step: ||dL/dh_t||.

    python examples/gradient_flow.py [--length 100] [--train-delay 50] [--seeds 3]
                                     [--out docs/img] [--format svg]

The loss sits at the last step of a copy-task sequence (``examples/copy_memory.py``: name the
first symbol after ``length - 2`` distractors). ``rnn.GradientFlow`` records the norm of the
gradient of that loss with respect to every hidden state h_t. Going back k steps multiplies by
k Jacobians of the recurrence: for a tanh RNN their norms are mostly below 1 and the product
shrinks exponentially; an LSTM's cell state ``c_t = f * c_{t-1} + ...`` passes gradients back
scaled by the forget gate f, a GRU's ``h_t = (1 - z) * h_{t-1} + ...`` by 1 - z, and the gates
can hold those near 1 for as long as the task needs. Whether they do depends on their biases.

Measured for RNN, GRU and LSTM (hidden 32), for each of ``--seeds`` seeds:

- at the library's default initialisation (LSTM forget bias 1);
- at the chrono initialisation (gate biases spread the memory time-scales over 1 .. L steps;
  Tallec & Ollivier, 2018; a vanilla RNN has no gates, so this is its default);
- after brief training on the copy task (T = ``--train-delay``; Adam, up to 1,000 steps,
  stopped once solved; from the chrono initialisation), as in ``copy_memory.py``.

Prints "steps back from the loss until the norm falls below 1e-3 of its value at the loss"
per cell and condition, and writes into ``--out``:

- ``gradient_flow.png``: log-scale ||dL/dh_t|| / ||dL/dh_L-1|| against the distance from the
  loss, one panel per condition, a line per cell and seed (needs matplotlib);
- ``bptt_lstm_stepwise.svg`` (6 steps), ``bptt_lstm_composed.svg`` (3 steps: every gate op),
  ``bptt_rnn_stepwise.svg`` (6 steps): the unrolled BPTT graphs of the trained models (seed 0),
  each step filled by its ||dL/dh_t||, on one colour scale shared by the three pictures;
- ``bptt_truncated.svg``: truncated BPTT, two 3-step chunks of the trained LSTM joined by a
  ``detach_state`` cut (no gradient crosses it).
"""

from __future__ import annotations

# isort: off
import _process_settings  # noqa: F401  (first: BLAS threads and malloc, before numpy loads)
# isort: on

import argparse
import pathlib
import shutil
import time

import numpy as np
from copy_memory import Config, Recaller, accuracy, make_batch, train

import minigrad as mg
import minigrad.functional as F
import rnn
from rnn import views

CELLS = ("rnn", "gru", "lstm")
COLORS = {"RNN": "#d62728", "GRU": "#1f77b4", "LSTM": "#2ca02c"}
RATIO = 1e-3
CONDITIONS = ("default init", "chrono init", "trained on the copy task")


def grad_norms(model: Recaller, length: int, rng: np.random.Generator) -> np.ndarray:
    """||dL/dh_t|| (length,) of the copy-task loss at the last step, over a batch of 256."""
    inputs, symbols = make_batch(length - 2, 256, rng)
    with rnn.GradientFlow() as flow:
        loss = F.cross_entropy(model(inputs), symbols)
        loss.backward()
    model.zero_grad()
    return flow.state_grad_norms["l0"]


def horizons(runs: list[np.ndarray]) -> str:
    """Median [min, max] of ``memory_horizon`` over runs; a run that never falls below the
    ratio counts as the whole sequence."""
    steps = [views.memory_horizon(v, RATIO) for v in runs]
    length = len(runs[0])
    values = np.array([length if s is None else s for s in steps])

    def text(v: float) -> str:
        return f">{length - 1}" if v >= length else f"{v:.0f}"

    if values.min() == values.max():
        return text(values[0])
    return f"{text(np.median(values))} [{text(values.min())}, {text(values.max())}]"


def draw_graphs(models: dict[str, Recaller], out: pathlib.Path, steps: int, seed: int,
                fmt: str = "svg") -> None:
    """The unrolled graphs of the trained LSTM (both granularities) and RNN: ``steps`` steps
    for one box per step, 3 for the composed graph (every gate op; it is wide)."""
    rng = np.random.default_rng(seed)
    runs = {}
    for name, impl, length in (("lstm", "stepwise", steps), ("lstm", "composed", 3),
                               ("rnn", "stepwise", steps)):
        inputs, symbols = make_batch(length - 2, 4, np.random.default_rng(seed))
        model = views.twin(models[name], impl)  # same weights, steps visible
        with rnn.GradientFlow() as flow:
            loss = F.cross_entropy(model(inputs), symbols)
            loss.backward()
        runs[name, impl] = model, loss, flow, inputs
    # One colour scale for all pictures, so that the RNN's and the LSTM's steps compare.
    norms = np.concatenate([run[2].state_grad_norms["l0"] for run in runs.values()])
    vmin, vmax = float(norms[norms > 0].min()), float(norms.max())
    for (name, impl), (model, loss, flow, inputs) in runs.items():
        path = views.render_bptt(loss, out / f"bptt_{name}_{impl}.{fmt}", model, flow=flow,
                                 granularity=impl, inputs={"x": inputs}, vmin=vmin, vmax=vmax)
        print(f"  {path}")

    # Truncated BPTT: two chunks of the LSTM, the state carried across a detach_state cut.
    model = views.twin(models["lstm"], "stepwise")
    inputs, symbols = make_batch(4, 4, rng)  # 6 steps: 3 + 3
    with mg.scope("chunk 1"):
        output, state = model.layer(inputs[:3])
    carried = rnn.detach_state(state)
    with rnn.GradientFlow() as flow:
        with mg.scope("chunk 2"):
            output, _ = model.layer(inputs[3:], carried)
            loss = F.cross_entropy(model.readout(output[-1]), symbols)
        loss.backward()
    path = views.render_bptt([loss, *state], out / f"bptt_truncated.{fmt}", model, flow=flow,
                             cuts=carried, inputs={"x": inputs})
    print(f"  {path}")


def measure(cell: str, seed: int, args: argparse.Namespace, config: Config
            ) -> tuple[dict[str, np.ndarray], Recaller, str]:
    """||dL/dh_t|| of one cell at default init, at chrono init and after brief training."""
    rng = np.random.default_rng(seed)
    mg.manual_seed(seed)
    norms = {}
    default = Recaller(f"{cell}-default" if cell != "rnn" else cell, config.hidden)
    norms[CONDITIONS[0]] = grad_norms(default, args.length, rng)
    mg.manual_seed(seed)
    model = Recaller(cell, config.hidden, config.horizon, rng=rng)
    # A vanilla RNN has no gates: its chrono-init curve is its default-init one.
    norms[CONDITIONS[1]] = grad_norms(model, args.length, rng)
    steps = train(model, args.train_delay, config, rng)
    norms[CONDITIONS[2]] = grad_norms(model, args.length, rng)
    test = accuracy(model, args.train_delay, 1000, np.random.default_rng(10_000 + seed),
                    config.filler)
    return norms, model, f"{steps} steps, test accuracy {test:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=100, help="sequence length L")
    parser.add_argument("--train-delay", type=int, default=50,
                        help="copy-task delay T of the brief training")
    parser.add_argument("--train-steps", type=int, default=Config.steps,
                        help="training budget (stops earlier once the task is solved)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--graph-steps", type=int, default=6,
                        help="length of the sequence drawn as a BPTT graph")
    parser.add_argument("--out", default="docs/img")
    parser.add_argument("--format", default="svg", help="of the graphs: svg, png, pdf")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    config = Config(steps=args.train_steps, horizon=args.length)
    runs = {}  # (cell, seed) -> norms per condition
    trained = {}
    print(f"Training on the copy task (T = {args.train_delay}, up to {config.steps} steps):")
    for cell in CELLS:
        for seed in range(args.seeds):
            runs[cell, seed], model, report = measure(cell, seed, args, config)
            trained.setdefault(cell, model)
            print(f"  {cell.upper():<5} seed {seed}: {report}", flush=True)

    print(f"\nSteps back from the loss until ||dL/dh_t|| < {RATIO:g} x its value at the loss, "
          f"median [min, max] over {args.seeds} seeds; sequence of {args.length} steps, "
          f">{args.length - 1}: never:\n")
    print("cell".ljust(6) + "".join(c.rjust(26) for c in CONDITIONS))
    for cell in CELLS:
        row = [horizons([runs[cell, s][c] for s in range(args.seeds)]) for c in CONDITIONS]
        print(cell.upper().ljust(6) + "".join(r.rjust(26) for r in row))
    print("\n||dL/dh_t|| / ||dL/dh_L-1|| at 10, 20, 50 steps back (seed 0):\n")
    for condition in CONDITIONS:
        for cell in CELLS:
            v = runs[cell, 0][condition]
            ratios = [v[-1 - k] / v[-1] if k < len(v) else float("nan") for k in (10, 20, 50)]
            print(f"  {condition:<26}{cell.upper():<5}" + "".join(f"{r:12.2e}" for r in ratios))

    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("\n(matplotlib is not installed: no plot; pip install matplotlib)")
    else:
        figure = Figure(figsize=(13, 4.2), layout="constrained")
        axes = figure.subplots(1, len(CONDITIONS), sharey=True)
        for ax, condition in zip(axes, CONDITIONS, strict=True):
            # Seed 0 in the legend; the other seeds lighter, and hidden from the legend ("_").
            norms, colors = {}, {}
            for cell in CELLS:
                for seed in range(args.seeds):
                    name = cell.upper() if seed == 0 else f"_{cell.upper()} {seed}"
                    norms[name] = runs[cell, seed][condition]
                    colors[name] = COLORS[cell.upper()] + ("" if seed == 0 else "66")
            title = condition + (f" (T = {args.train_delay})" if "trained" in condition else "")
            views.plot_gradient_flow(norms, ax=ax, relative=True, ratio=RATIO, colors=colors,
                                     title=f"{title}, {args.seeds} seeds")
        figure.savefig(out / "gradient_flow.png", dpi=110)
        print(f"\n  {out / 'gradient_flow.png'}")
    if shutil.which("dot") is None:
        print("(Graphviz 'dot' is not installed: no graphs)")
    else:
        draw_graphs(trained, out, args.graph_steps, 0, args.format)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
