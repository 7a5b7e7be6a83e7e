"""Time-series forecasting with a GRU (or LSTM) on sliding windows, split in time order.

    python examples/forecast.py                    # GRU, prints errors, writes forecast.png
    python examples/forecast.py --cell lstm --horizon 12 --plot ''

The series is synthetic but not trivial, "hourly" data generated from ``--seed``:

    y_t = trend (slow linear rise + a slow wave)
        + daily cycle (two harmonics) whose amplitude is smaller at weekends
        + weekend drop
        + AR(1) noise (phi 0.8: shocks fade over a few hours, so recent values matter)

Task: from the last ``--window`` hours, forecast the next ``--horizon`` hours at once (one
output per future hour). Each step's input is the value relative to the window's last value
(so the trend does not push test inputs out of the range seen in training) and the hour of
the day and of the week as sine / cosine pairs (known in advance). The target is the future
value relative to the same last value.

The windows are split with ``rnn.timeseries.chronological_split``: every training target
comes before every validation target, which comes before every test target, and no training
input is a later split's target. The scale of the series is fitted on the training region
only. Training stops early (``--patience``) and keeps the epoch with the best validation MAE;
the test split is used once, at the end.

Printed beside the model's test errors (MAE / RMSE in the series' units): the naive baselines
that any forecast must beat (last value; seasonal naive: the value one day or one week
earlier), and the oracle, the best possible forecast computed from the generating process
itself, whose error is the floor set by the unpredictable noise.

Then the same model and training on a *random* split of the same windows (shuffled, then
70/15/15): with the defaults, the test error that split reports is below the oracle's
floor, an impossibility that only leakage explains (overlapping neighbours of every test
window were in training), while the same model does worse than the honest one on the real
future. The output says so.

The plot (``--plot``; matplotlib, imported only when drawing) shows forecasts from successive
origins against the truth at the end of the test period; those forecasts are computed with
the layer's streaming ``step``, one observation at a time as a deployed forecaster receives
them, and checked against the batched forward.

Default run (2 shared cores): about a minute; figures in the README.
"""

from __future__ import annotations

# isort: off
import _process_settings  # noqa: F401  (first: BLAS threads and malloc, before numpy loads)
# isort: on

import argparse
import sys
import textwrap
import time

import numpy as np

import minigrad as mg
import minigrad.functional as F
import rnn
from minigrad import nn, optim
from rnn.timeseries import Windows, chronological_split, make_windows

DAY, WEEK = 24, 168
PHI = 0.8  # AR(1) coefficient of the noise
CELLS = {"gru": rnn.GRU, "lstm": rnn.LSTM}


# ---------------------------------------------------------------------------------- data
def expected_part(t: np.ndarray) -> np.ndarray:
    """The predictable part of the series at times ``t``: trend and seasonality."""
    hour, day = t % DAY, (t // DAY) % 7
    weekend = (day >= 5).astype(np.float64)
    trend = 20.0 + 0.004 * t + 1.5 * np.sin(2 * np.pi * t / (5.5 * WEEK))
    daily = (6.0 * np.sin(2 * np.pi * (hour - 8) / DAY)
             + 2.0 * np.sin(4 * np.pi * hour / DAY + 1.0)) * (1.0 - 0.5 * weekend)
    return trend + daily - 4.0 * weekend


def make_series(n_steps: int, seed: int) -> np.ndarray:
    """(T,) float64: ``expected_part`` + AR(1) noise with coefficient PHI, unit shocks."""
    shocks = np.random.default_rng(seed).normal(0.0, 1.0, n_steps)
    noise = np.empty(n_steps)
    noise[0] = shocks[0] / np.sqrt(1 - PHI ** 2)   # start in the stationary distribution
    for i in range(1, n_steps):
        noise[i] = PHI * noise[i - 1] + shocks[i]
    return expected_part(np.arange(n_steps, dtype=np.float64)) + noise


def oracle(series: np.ndarray, windows: Windows) -> np.ndarray:
    """(n, h): the best possible forecast, from the generating process itself: the expected
    part plus the last noise value decayed by PHI per step. Its error is the floor set by
    the unpredictable shocks; no honest forecaster can beat it on average."""
    last = windows.origins - 1
    noise = series[last] - expected_part(last.astype(np.float64))
    decay = PHI ** (np.arange(windows.horizon) + 1)
    return expected_part(windows.target_times.astype(np.float64)) + noise[:, None] * decay


def features(series: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(T, 5) float64: scaled value, then sin / cos of the hour of the day and of the week."""
    t = np.arange(len(series))
    return np.stack([(series - mean) / std,
                     np.sin(2 * np.pi * t / DAY), np.cos(2 * np.pi * t / DAY),
                     np.sin(2 * np.pi * t / WEEK), np.cos(2 * np.pi * t / WEEK)], axis=1)


def model_arrays(windows: Windows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (n, W, 5) float32 with the value made relative to the window's last value,
    targets (n, h) float32 relative to it too, and that last (scaled) value (n,)."""
    last = windows.inputs[:, -1, 0]
    inputs = windows.inputs.copy()
    inputs[:, :, 0] -= last[:, None]
    targets = windows.targets[:, :, 0] - last[:, None]
    return inputs.astype(np.float32), targets.astype(np.float32), last


# --------------------------------------------------------------------------------- model
class Forecaster(nn.Module):
    """A recurrent layer reads the window; a linear head maps its last output to h values.

    Shape:
        forward: inputs (n, W, 5) -> forecasts (n, h), relative to each window's last value
    """

    def __init__(self, cell: str, n_features: int, hidden: int, horizon: int) -> None:
        super().__init__()
        self.rnn = CELLS[cell](n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, inputs: mg.Tensor) -> mg.Tensor:
        output, _ = self.rnn(inputs)
        return self.head(output[:, -1])

    def stream(self, rows: np.ndarray) -> np.ndarray:
        """The forecast after feeding ``rows`` (W, 5) one at a time through ``rnn.step``
        (what a deployed model does as observations arrive): (h,)."""
        state = None
        with mg.no_grad():
            for row in rows:
                output, state = self.rnn.step(mg.tensor(row[None]), state)
            return self.head(output).numpy()[0]


def predict(model: Forecaster, inputs: np.ndarray, batch: int = 512) -> np.ndarray:
    model.eval()
    with mg.no_grad():
        out = np.concatenate([model(mg.tensor(inputs[i:i + batch])).numpy()
                              for i in range(0, len(inputs), batch)])
    model.train()
    return out


def fit(model: Forecaster, train: tuple, val: tuple, *, epochs: int, lr: float, batch: int,
        patience: int, rng: np.random.Generator, scale: float) -> dict:
    """Adam on the MSE of the scaled targets, with early stopping: keeps the weights of the
    epoch with the best validation MAE, and stops after ``patience`` epochs without a new
    best. Returns that MAE (in the series' units) and its epoch."""
    inputs, targets = train[0], train[1]
    optimizer = optim.Adam(model.parameters(), lr=lr)
    best_mae, best_state, best_epoch = np.inf, None, 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(inputs))   # shuffling *within* the training split is fine
        for i in range(0, len(order), batch):
            rows = order[i:i + batch]
            loss = F.mse_loss(model(mg.tensor(inputs[rows])), mg.tensor(targets[rows]))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        mae = float(np.abs(predict(model, val[0]) - val[1]).mean()) * scale
        if mae < best_mae:
            best_mae, best_state, best_epoch = mae, model.state_dict(), epoch
        elif epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return {"best_val_mae": best_mae, "best_epoch": best_epoch, "epochs_run": epoch}


# ------------------------------------------------------------------------------ baselines
def seasonal_naive(series: np.ndarray, windows: Windows, season: int) -> np.ndarray:
    """(n, h): each target is the value ``season`` steps (or a multiple) earlier, taken from
    before the forecast origin. ``season=1`` is the last-value forecast."""
    k = np.arange(windows.horizon)
    back = season * ((k // season) + 1)           # the smallest multiple of season > k
    index = windows.origins[:, None] + k - back
    if index.min() < 0:
        raise ValueError(f"seasonal naive with season {season} needs {season} steps of "
                         "history before every forecast origin")
    return series[index]


def errors(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    difference = predicted - truth
    return float(np.abs(difference).mean()), float(np.sqrt((difference ** 2).mean()))


# --------------------------------------------------------------------------------- plot
def plot(path: str, series: np.ndarray, origins: np.ndarray, forecasts: np.ndarray,
         naive: np.ndarray, test_start: int, horizon: int, season: int) -> None:
    """Truth, model forecasts and seasonal-naive forecasts over the end of the series; PNG.
    matplotlib is imported here, only when a plot is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = max(0, int(origins[0]) - 2 * DAY)
    t = np.arange(first, len(series))
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(t, series[first:], color="0.3", lw=1, label="truth")
    for i, origin in enumerate(origins):
        span = np.arange(origin, origin + horizon)
        ax.plot(span, forecasts[i], color="tab:red", lw=1.8,
                label="model forecast (streamed)" if i == 0 else None)
        ax.plot(span, naive[i], color="tab:blue", lw=1, ls="--",
                label=f"seasonal naive ({season} h earlier)" if i == 0 else None)
        ax.axvline(origin, color="0.85", lw=0.8, zorder=0)
    if first <= test_start:
        ax.axvline(test_start, color="k", lw=1, ls=":", label="test split starts")
    ax.set_xlabel("hour")
    ax.set_ylabel("value")
    ax.set_title(f"{horizon}-hour forecasts from successive origins (test split)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=sorted(CELLS), default="gru")
    parser.add_argument("--steps", type=int, default=20 * WEEK, help="series length (hours)")
    parser.add_argument("--window", type=int, default=72, help="input hours per window")
    parser.add_argument("--horizon", type=int, default=24, help="hours forecast at once")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=10,
                        help="stop after this many epochs without a better validation MAE")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="forecast.png", help="PNG path ('' to skip)")
    parser.add_argument("--no-random-split", action="store_true",
                        help="skip the random-split comparison (about halves the run time)")
    return parser.parse_args(argv)


def train_model(args: argparse.Namespace, train: tuple, val: tuple, scale: float,
                n_features: int) -> tuple[Forecaster, dict]:
    mg.manual_seed(args.seed)
    model = Forecaster(args.cell, n_features, args.hidden, args.horizon)
    history = fit(model, train, val, epochs=args.epochs, lr=args.lr, batch=args.batch,
                  patience=args.patience, rng=np.random.default_rng(args.seed), scale=scale)
    return model, history


def main(argv: list[str] | None = None) -> int:
    """Runs the example; returns the process exit status."""
    args = parse_args(argv)
    started = time.perf_counter()
    series = make_series(args.steps, args.seed)
    sizes = dict(window=args.window, horizon=args.horizon, val_fraction=args.val_fraction,
                 test_fraction=args.test_fraction)
    try:
        split = chronological_split(series, **sizes)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # Scale with statistics of the training region only: the later regions are the future.
    mean, std = series[:split.val_start].mean(), series[:split.val_start].std()
    feats = features(series, mean, std)
    train, val, test = (model_arrays(w) for w in chronological_split(feats, **sizes)[:3])
    print(f"series: {args.steps} hourly steps; windows of {args.window} h -> {args.horizon} h; "
          f"train {len(train[0])}, validation {len(val[0])}, test {len(test[0])} windows "
          f"(targets in hours [0, {split.val_start}), [{split.val_start}, {split.test_start}), "
          f"[{split.test_start}, {args.steps}))")

    model, history = train_model(args, train, val, std, feats.shape[1])
    print(f"{args.cell.upper()} {args.hidden} hidden, {model.num_parameters():,} parameters: "
          f"best validation MAE {history['best_val_mae']:.3f} at epoch "
          f"{history['best_epoch']} of {history['epochs_run']} run "
          f"({time.perf_counter() - started:.1f} s)")

    # Test errors in the series' units: the model beside the naive baselines and the floor.
    truth = split.test.targets
    naive = {name: seasonal_naive(series, split.test, season)
             for name, season in (("naive: last value", 1),
                                  ("seasonal naive: 1 day earlier", DAY),
                                  ("seasonal naive: 1 week earlier", WEEK))
             if split.test.origins.min() >= season}   # enough history before every origin
    model_name = f"{args.cell.upper()} (this model)"
    model_forecast = (predict(model, test[0]) + test[2][:, None]) * std + mean
    rows = {model_name: model_forecast, **naive,
            "oracle (the generating process)": oracle(series, split.test)}
    print(f"\ntest split ({len(truth)} windows, all horizons 1..{args.horizon} h):")
    print(f"  {'forecast':34s} {'MAE':>7s} {'RMSE':>7s}")
    mae = {}
    for name, forecast in rows.items():
        mae[name], rmse = errors(forecast, truth)
        print(f"  {name:34s} {mae[name]:7.3f} {rmse:7.3f}")
    best_naive = min(mae[k] for k in naive)
    print(f"  the model's MAE is {mae[model_name] / best_naive:.0%} of the best naive "
          "baseline's; "
          "the oracle's is the\n  floor that the unpredictable noise sets")

    if not args.no_random_split:
        random_split_demo(args, series, feats, std, test, split)

    # Streaming: the plotted forecasts, fed one observation at a time through rnn's step().
    picks = np.arange(len(test[0]) - 1, -1, -args.horizon)[:7][::-1]
    streamed = np.stack([model.stream(test[0][i]) for i in picks])
    batched = predict(model, test[0][picks])
    print(f"\nstreaming: {len(picks)} forecasts computed with {args.cell.upper()}.step, one "
          f"observation at a time, match the batched forward to "
          f"{np.abs(streamed - batched).max():.1e}")
    if args.plot:
        season = WEEK if split.test.origins.min() >= WEEK else DAY
        plot(args.plot, series, split.test.origins[picks],
             (streamed + test[2][picks, None]) * std + mean,
             seasonal_naive(series, split.test, season)[picks], split.test_start,
             args.horizon, season)
        print(f"plot: {args.plot}")
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


def random_split_demo(args: argparse.Namespace, series: np.ndarray, feats: np.ndarray,
                      std: float, future: tuple, split) -> None:
    """Trains the same model on a *random* split and compares what that split reports with
    the floor on the same windows and with the model's error on the future."""
    # Shuffle the windows that end before the test region, as a careless split would.
    every = make_windows(feats, args.window, args.horizon, target_stop=split.test_start)
    order = np.random.default_rng(args.seed + 1).permutation(len(every))
    share = 1.0 - args.val_fraction - args.test_fraction
    n_train = int(round(len(every) * share))
    n_val = int(round(len(every) * args.val_fraction))
    parts = np.split(order, [n_train, n_train + n_val])

    def subset(rows):
        return Windows(every.inputs[rows], every.targets[rows], every.starts[rows],
                       every.window, every.horizon)

    train, val, test = (model_arrays(subset(rows)) for rows in parts)
    model, _ = train_model(args, train, val, std, feats.shape[1])
    reported = float(np.abs(predict(model, test[0]) - test[1]).mean()) * std
    on_future = float(np.abs(predict(model, future[0]) - future[1]).mean()) * std
    test_windows = subset(parts[2])
    floor = errors(oracle(series, test_windows),
                   series[test_windows.target_times])[0]
    # How many random-test windows have all their target hours inside a training window?
    seen = np.zeros(len(feats), dtype=bool)
    for start in every.starts[parts[0]]:
        seen[start:start + args.window + args.horizon] = True
    leaked = seen[test_windows.target_times].all(axis=1).mean()
    print(f"\nrandom split (the windows before hour {split.test_start} shuffled, then "
          f"{share:.0%} / {args.val_fraction:.0%} / {args.test_fraction:.0%}), same model "
          f"and training:\n"
          f"  its test MAE                                 {reported:7.3f}   <- what it reports\n"
          f"  the oracle's MAE on those same windows       {floor:7.3f}   (the floor)\n"
          f"  the same model on the future (test split)    {on_future:7.3f}")
    if reported < floor:
        verdict = "below the floor, which no forecaster can do without seeing the answers"
    elif reported < on_future:
        verdict = (f"{1 - reported / on_future:.0%} lower than the error the model makes on "
                   "the future")
    else:
        verdict = "not a measure of the future, whatever its value"
    print(textwrap.fill(
        f"The random split's figure is wrong: it is {verdict}. Windows overlap, and "
        f"{leaked:.0%} of its test windows have every target hour inside some training "
        "window (as an input or a target): the model is graded on values it was fitted on. "
        "Its validation windows leak the same way, so early stopping could not see the "
        "overfitting either. A forecaster only ever meets the future: split in time "
        "(rnn.timeseries.chronological_split).", width=96, initial_indent="  ",
        subsequent_indent="  "))

if __name__ == "__main__":
    sys.exit(main())
