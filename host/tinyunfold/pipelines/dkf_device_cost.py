"""Instructions per DKF step on the QEMU boards (docs/dkf.md, "On the device").

Trains a short DKF (K = 6, 3 epochs) for each example, builds the streaming firmware, sends 10
observations over the serial link and reports the instruction count of each forward pass
(RESULT ticks under ``-icount``, converted by ``Board.ticks_to_units``). Run::

    .venv/bin/python -m tinyunfold.pipelines.dkf_device_cost
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tinyunfold.models.dkf import DeepKalmanFilter
from tinyunfold.models.dkf_poly import poly_predictor
from tinyunfold.models.systems import load_system, simulate
from tinyunfold.tools.build import build_model
from tinyunfold.tools.link import open_board

EXAMPLES = (
    ("strong2.toml", None),
    ("weak3.toml", None),
    ("fitzhugh_nagumo.toml", "rk4"),
    ("lorenz63.toml", "rk4"),
    ("lorenz63.toml", "imex"),
)


def step_instructions(
    example: Path, board: str, scheme: str | None = None, steps: int = 10
) -> list[int]:
    """Instructions of each of ``steps`` forward passes of a short-trained DKF of ``example``
    (``scheme`` overrides a nonlinear system's predictor discretisation)."""
    import torch

    torch.set_num_threads(1)
    s = load_system(example)
    s.steps = 6
    if scheme is not None:
        s.scheme = scheme
    data = simulate(s, 4, None, seed=3)
    model = DeepKalmanFilter(s, lambda_d=1.0, lr=1e-3, epochs=3, batch_size=2).fit(data)
    mf = model.to_modelfile()
    y = simulate(s, 1, steps, seed=4)["y"][0].astype(np.float32)
    b = build_model(mf, board, program="stream")
    out = []
    with open_board(b.board, b.artifact, timeout_s=120) as sess:
        sess.link.hello()
        for k in range(steps):
            _, ticks = sess.link.infer(y[k], s.n)
            out.append(b.board.ticks_to_units(ticks))
        sess.link.bye()
    terms = 0 if mf.params["predictor"] == "linear" else poly_predictor(mf).n_terms
    print(f"{example.name} {board} predictor={mf.params['predictor']} terms={terms} "
          f"n={s.n} m={s.m}: {out}")  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[3] / "examples" / "dkf"
    boards = (argv or sys.argv[1:]) or ["mps2-an386", "mps2-an500"]
    for name, scheme in EXAMPLES:
        for board in boards:
            step_instructions(root / name, board, scheme)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
