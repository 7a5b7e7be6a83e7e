"""With NUMBA_DISABLE_JIT=1 the whole library still works (slowly), for debugging kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import minigrad as mg
    import minigrad.functional as F
    import rnn

    mg.manual_seed(0)
    lstm = rnn.LSTM(3, 4, num_layers=2, bidirectional=True)
    head = mg.nn.Linear(8, 5)
    params = list(lstm.parameters()) + list(head.parameters())
    optimizer = mg.optim.Adam(params, lr=0.05)
    x = mg.tensor(np.random.default_rng(0).standard_normal((6, 2, 3)).astype(np.float32))
    y = mg.tensor(np.arange(12).reshape(6, 2) % 5)
    losses = []
    for _ in range(3):
        output, _ = lstm(x)
        logits = head(output).sigmoid() * 3 + head(output).tanh()
        loss = F.cross_entropy(logits.reshape(12, 5), y.reshape(12))
        loss = loss + logits.softmax(-1).sum() * 0 + logits.log_softmax(-1).mean() * 0.01
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(json.dumps(losses))
""")


def _run(disable_jit: bool) -> list[float]:
    env = dict(os.environ)
    env["NUMBA_DISABLE_JIT"] = "1" if disable_jit else "0"
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_training_without_jit_matches_jit() -> None:
    without_jit = _run(disable_jit=True)
    with_jit = _run(disable_jit=False)
    assert len(without_jit) == 3
    assert without_jit[-1] < without_jit[0]  # it trains
    np.testing.assert_allclose(without_jit, with_jit, rtol=1e-5)
