"""Train a 2-layer MLP on a three-armed spiral with minigrad, and watch the loss go down.

    python examples/demo_mlp.py [--epochs 300] [--hidden 64] [--seed 0]

The data are 2-D points on three interleaved spiral arms, one class per arm: a linear model
cannot separate them, a small MLP can. Prints the loss and accuracy as training goes, then the
accuracy on held-out points.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim


def make_spirals(points_per_class: int, classes: int, rng: np.random.Generator):
    """Points (N, 2) float32 on ``classes`` noisy spiral arms and their labels (N,) int64."""
    xs, ys = [], []
    for label in range(classes):
        radius = np.linspace(0.05, 1.0, points_per_class)
        angle = (np.linspace(0, 4.0, points_per_class) + label * 2 * np.pi / classes
                 + rng.normal(0, 0.15, points_per_class))
        xs.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))
        ys.append(np.full(points_per_class, label))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


class MLP(nn.Module):
    """2 -> hidden -> hidden -> classes, tanh activations."""

    def __init__(self, hidden: int, classes: int) -> None:
        super().__init__()
        self.layer1 = nn.Linear(2, hidden)
        self.layer2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: mg.Tensor) -> mg.Tensor:
        return self.out(self.layer2(self.layer1(x).tanh()).tanh())


def accuracy(model: MLP, x: np.ndarray, y: np.ndarray) -> float:
    with mg.no_grad():
        predicted = model(mg.tensor(x)).argmax(-1).numpy()
    return float((predicted == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    mg.manual_seed(args.seed)
    x, y = make_spirals(300, 3, rng)
    order = rng.permutation(len(x))
    train, test = order[:720], order[720:]

    model = MLP(args.hidden, 3)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    print(f"MLP with {model.num_parameters()} parameters, {len(train)} training points")
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        loss = F.cross_entropy(model(mg.tensor(x[train])), y[train])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if epoch == 1 or epoch % 50 == 0:
            print(f"epoch {epoch:4d}  loss {loss.item():.4f}  "
                  f"train accuracy {accuracy(model, x[train], y[train]):.1%}")
    print(f"held-out accuracy {accuracy(model, x[test], y[test]):.1%} "
          f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
