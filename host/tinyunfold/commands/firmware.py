"""``tinyunfold build | run | demo | bench``: generated firmware on QEMU boards and the host."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold import kinds
from tinyunfold.errors import ShapeError, TinyUnfoldError
from tinyunfold.extras import require_extra
from tinyunfold.kinds import load_model
from tinyunfold.modelfile import ModelFile
from tinyunfold.platform.boards import available_boards
from tinyunfold.platform.paths import set_build_root

QEMU_BOARDS = ("mps2-an386", "mps2-an500")


def register(sub: argparse._SubParsersAction) -> None:
    boards = ", ".join(available_boards())
    b = sub.add_parser(
        "build",
        help="generate C for a model and compile it for a board",
        description=f"Generate the model's C into <build-dir>/<board>/generated/ and compile it "
        f"(build dir: --build-dir, else $TINYUNFOLD_BUILD, else ./build). Boards: {boards}.",
    )
    _common(b)
    b.set_defaults(func=_build)

    r = sub.add_parser(
        "run",
        help="run a model's firmware on a board (QEMU) and check its bits against Python",
        description="Build, run on --input blocks, and compare the float32 output bit for bit "
        "with the golden reference. Exit status 1 when any bit differs.",
    )
    _common(r)
    r.add_argument(
        "--input", required=True, help=".npy input: one block (F, N) or blocks (B, F, N)"
    )
    r.add_argument("--output", help="write the firmware output (.npy)")
    r.add_argument("--timeout", type=float, default=120.0, help="QEMU wall-clock limit, seconds")
    r.set_defaults(func=_run)

    f = sub.add_parser(
        "flash",
        help="load a model's streaming firmware onto a board through GDB and serve its serial link",
        description="Build the streaming firmware (docs/protocol.md), start the board (QEMU halted "
        "with a GDB server), load the ELF with gdb-multiarch, and keep it serving the serial link "
        "on socket://127.0.0.1:<port> until the board stops or Ctrl-C.",
    )
    _common(f)
    f.add_argument(
        "--serial-port", type=int, help="TCP port of the board's UART (default: free port)"
    )
    f.add_argument(
        "--timeout", type=float, default=3600.0, help="stop the board after this many seconds"
    )
    f.add_argument(
        "--gdb",
        metavar="HOST:PORT",
        help="flash a real board (or any target) through this GDB server: load, verify, reset, "
        "detach (OpenOCD, ST-LINK gdbserver, J-Link, pyocd gdbserver, QEMU -gdb)",
    )
    f.add_argument(
        "--probe", choices=("pyocd",), help="flash a real board with pyOCD (pip install pyocd)"
    )
    f.set_defaults(func=_flash)

    st = sub.add_parser(
        "stream",
        help="stream input blocks (or audio frames) to a board over the serial link; check bits",
        description="Flash the streaming firmware, send each block of --input over the serial "
        "protocol, print the results and compare them bit for bit with the Python reference. "
        "For a `spectrogram` model, --input may be a WAV file: it is cut into frames.",
    )
    _common(st)
    st.add_argument(
        "--input", required=True, help=".npy blocks (B, ...) or, for spectrogram models, a .wav"
    )
    st.add_argument("--output", help="write the device outputs (.npy)")
    st.add_argument("--timeout", type=float, default=300.0, help="wall-clock limit, seconds")
    st.set_defaults(func=_stream)

    d = sub.add_parser("demo", help="the whole chain on built-in synthetic data, both boards")
    d.add_argument("--out", default="build/demo", help="folder for model, inputs and report.json")
    d.add_argument("--layers", type=int, default=100, help="K, unrolled layers")
    add_build_dir_argument(d)
    d.set_defaults(func=_demo)

    be = sub.add_parser(
        "bench",
        help="instructions, cycle estimates, flash/RAM of PAD-NMF models vs the thesis formulas",
        description="One entry per model x board x kernel set in <out>/report.json ('entries') "
        "and report.md: Table 4 scenarios 1-3 (masked PAD-NMF and Deep-NMFD), a trained detector (--detector), the "
        "published piano network (--piano), plus the NMF demo model ('demo').",
    )
    be.add_argument("--out", default="build/bench", help="folder for report.json and report.md")
    be.add_argument("--detector", help="trained padnmf detector .tum (e.g. Dataset1 preset)")
    be.add_argument(
        "--piano",
        help="folder of the published piano network (.mat files; default: "
        "../shared/external/padnmf-piano next to the checkout, skipped if absent)",
    )
    be.add_argument("--boards", default=",".join(QEMU_BOARDS), help="comma-separated boards (QEMU)")
    be.add_argument("--kernels", default="cmsis,cmsis-dense", help="comma-separated kernel sets")
    be.add_argument(
        "--models",
        default="scenarios,dnmfd,detector,piano,demo",
        help="comma-separated subset of scenarios,dnmfd,detector,piano,demo",
    )
    add_build_dir_argument(be)
    be.set_defaults(func=_bench)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model file (.tum)")
    p.add_argument("--board", required=True, help=f"one of: {', '.join(available_boards())}")
    p.add_argument(
        "--kernels",
        default="cmsis",
        choices=("cmsis", "ref", "cmsis-dense", "ref-dense"),
        help="CMSIS-DSP or portable C kernels (-dense: the dense reference path of PAD-NMF)",
    )
    add_build_dir_argument(p)


def add_build_dir_argument(p: argparse.ArgumentParser) -> None:
    """``--build-dir``: where the CMake trees go (default ``$TINYUNFOLD_BUILD``, else ./build)."""
    p.add_argument(
        "--build-dir",
        help="build folder (default: $TINYUNFOLD_BUILD, else ./build of the current directory)",
    )


def use_build_dir(args: argparse.Namespace) -> None:
    """Apply ``--build-dir`` (if given) for the rest of this command."""
    if getattr(args, "build_dir", None):
        set_build_root(args.build_dir)


def _build(args: argparse.Namespace) -> int:
    use_build_dir(args)
    from tinyunfold.tools.build import build_model
    from tinyunfold.tools.report import memory_usage

    res = build_model(load_model(args.model), args.board, args.kernels)
    print(f"built {res.artifact}")
    print(f"generated sources: {res.build_dir / 'generated' / res.generated.name}")
    if not res.board.is_host:
        mem = memory_usage(res.artifact)
        print(
            f"flash {mem.flash} B (text {mem.text}, data {mem.data}), RAM {mem.ram} B "
            f"(data {mem.data}, bss {mem.bss}) + {mem.reserved} B stack/heap"
        )
    return 0


def _load_inputs(path: str) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ShapeError(
            f"cannot read input {path}: {exc}", "pass a .npy file of float32"
        ) from None
    return np.asarray(x, dtype=np.float32)


def _run(args: argparse.Namespace) -> int:
    use_build_dir(args)
    from tinyunfold.tools.deploy import check_model

    res = check_model(
        load_model(args.model), args.board, _load_inputs(args.input), args.kernels, args.timeout
    )
    if args.output:
        np.save(args.output, res.outputs)
    _print_check(res.report())
    return 0 if res.bit_exact else 1


def _print_check(r: dict[str, Any]) -> None:
    verdict = "BIT-EXACT" if r["bit_exact"] else f"MISMATCH in {r['mismatched_values']} values"
    count = next(
        (f"{v:,} {k.split('_per_')[0]}" for k, v in r.items() if k.endswith("_per_forward")), ""
    )
    line = f"{r['board']:11s} {r['kernels']:5s} {verdict:10s} {r['values_compared']} values; {count} per forward pass"
    if "memory_bytes" in r:
        m = r["memory_bytes"]
        line += f"; flash {m['flash']:,} B, RAM {m['ram']:,} B (+{m['reserved']:,} stack/heap)"
    print(line)


def demo_model(layers: int = 100) -> tuple[ModelFile, np.ndarray, np.ndarray]:
    from tinyunfold.models.nmf import NMFInference
    from tinyunfold.tools.synthetic import synthetic_nmf_problem

    W, H, X = synthetic_nmf_problem()
    model = NMFInference(
        W, n_layers=layers, alpha_h=0.01, eps=1e-9, n_frames=X.shape[2]
    ).to_modelfile()
    return model, H, X


def demo_front_end() -> tuple[ModelFile, np.ndarray]:
    """The feature front-end (features.py) as deployed: 512-point frames, 24 log-spaced bands."""
    from tinyunfold.features import SpectrogramParams
    from tinyunfold.models.frontend import frontend_model

    p = SpectrogramParams(sample_rate=16000, n_fft=512, hop=256, n_bands=24, band_scale="log")
    rng = np.random.default_rng(7)
    t = np.arange(p.n_fft) / p.sample_rate
    frames = np.stack(
        [np.sin(2 * np.pi * 440.0 * t) + 0.1 * rng.standard_normal(p.n_fft) for _ in range(3)]
    ).astype(np.float32)
    return frontend_model(p), frames


def _check_all(
    model: ModelFile, X: np.ndarray, boards: list[str], kernels: list[str]
) -> list[dict[str, Any]]:
    from tinyunfold.tools.deploy import check_model

    reports = []
    for board in boards:
        for k in kernels:
            t = time.time()
            res = check_model(model, board, X, k)
            r = res.report()
            r["wall_s_build_and_run"] = round(time.time() - t, 2)
            _print_check(r)
            reports.append(r)
    return reports


def _demo(args: argparse.Namespace) -> int:
    use_build_dir(args)
    from tinyunfold.golden.nmf import constants, nmf_forward_f32
    from tinyunfold.kinds import save_model
    from tinyunfold.models.nmf import NMFInference

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, H_true, X = demo_model(args.layers)
    save_model(out / "demo.tum", model)
    np.save(out / "inputs.npy", X)
    F, R = model.array("W").shape
    print(
        f"demo model: sparse KL-NMF, F={F} bins, R={R} atoms, N={X.shape[2]} frames, "
        f"K={model.params['n_layers']} layers; {len(X)} synthetic blocks -> {out / 'demo.tum'}"
    )
    c = constants(model)
    H32 = np.stack([nmf_forward_f32(c, x) for x in X])
    H64 = np.stack([NMFInference.from_modelfile(model).transform(x) for x in X])
    rel = float(np.max(np.abs(H32 - H64)) / np.max(np.abs(H64)))
    corr = float(np.corrcoef(H32.ravel(), H_true.ravel())[0, 1])
    print(
        f"python: float32 golden vs float64 max rel. difference {rel:.2e}; "
        f"correlation of H with the true activations {corr:.3f}"
    )
    reports = _check_all(model, X, ["host", *QEMU_BOARDS], ["cmsis"])
    fe_model, frames = demo_front_end()
    print(
        f"front-end: {fe_model.params['features']['n_fft']}-point frames -> "
        f"{fe_model.params['features']['n_bands']} bands (window, arm_rfft_fast_f32, power, band sums)"
    )
    reports += _check_all(fe_model, frames, list(QEMU_BOARDS), ["cmsis"])
    ok = all(r["bit_exact"] for r in reports)
    summary = {
        "model": "demo.tum",
        "float32_vs_float64_max_rel": rel,
        "activation_correlation": corr,
        "checks": reports,
        "all_bit_exact": ok,
    }
    (out / "report.json").write_text(json.dumps(summary, indent=1))
    print(
        f"verdict: {'all boards BIT-EXACT with the Python reference' if ok else 'MISMATCH'}; "
        f"report: {out / 'report.json'}"
    )
    if not ok:
        raise TinyUnfoldError(
            "firmware output differs from the Python reference", "see report.json"
        )
    return 0


def _bench(args: argparse.Namespace) -> int:
    use_build_dir(args)
    from tinyunfold.pipelines import bench
    from tinyunfold.platform.paths import source_root

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    which = set(args.models.split(","))
    models = []
    if "scenarios" in which:
        models += [bench.scenario_model(i) for i in range(3)]
    if "dnmfd" in which:
        models += [bench.dnmfd_scenario_model(i) for i in range(3)]
    if "detector" in which and args.detector:
        models.append(
            bench.trained_model(Path(args.detector), f"detector {Path(args.detector).name}")
        )
    if "piano" in which:
        folder = (
            Path(args.piano)
            if args.piano
            else source_root().parent / "shared" / "external" / "padnmf-piano"
        )
        piano = bench.piano_model(folder)
        if piano is not None:
            models.append(piano)
        else:
            print(f"piano network: no .mat files in {folder}, skipped")
    entries = bench.run(out, models, args.boards.split(","), args.kernels.split(","))
    rows = []
    if "demo" in which:
        for layers in (1, 100):
            model, _, X = demo_model(layers)
            for r in _check_all(model, X, list(QEMU_BOARDS), ["cmsis", "ref"]):
                r["layers"] = layers
                rows.append(r)
    (out / "report.json").write_text(json.dumps({"entries": entries, "demo": rows}, indent=1))
    lines = [
        "| board | kernels | K | bit-exact | instructions/forward | flash B | RAM B |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = r["memory_bytes"]
        lines.append(
            f"| {r['board']} | {r['kernels']} | {r['layers']} | {r['bit_exact']} | "
            f"{r['instructions_per_forward']:,} | {m['flash']:,} | {m['ram']:,} |"
        )
    md = bench.markdown(entries) + (
        "\nNMF demo model:\n\n" + "\n".join(lines) + "\n" if rows else ""
    )
    (out / "report.md").write_text(md)
    print(md)
    print(f"written: {out / 'report.json'}, {out / 'report.md'}")
    ok = all(e["bit_exact"] for e in entries) and all(r["bit_exact"] for r in rows)
    return 0 if ok else 1


def _flash(args: argparse.Namespace) -> int:
    use_build_dir(args)
    require_extra("device", "serial", "the serial link")
    from tinyunfold.tools.build import build_model
    from tinyunfold.tools.link import open_board

    res = build_model(load_model(args.model), args.board, args.kernels, program="stream")
    if res.board.is_host:
        raise TinyUnfoldError("flash needs a board", f"choose one of {', '.join(QEMU_BOARDS)}")
    if args.gdb or args.probe:
        from tinyunfold.tools.flash import flash_to_part

        print(flash_to_part(res.board, res.artifact, args.gdb, args.probe))
        return 0
    with open_board(res.board, res.artifact, args.timeout, args.serial_port) as session:
        print(session.gdb_log.strip().splitlines()[-1])
        print(f"{res.board.name}: running {res.artifact.name}; serial link on {session.serial_url}")
        print("connect with tinyunfold.tools.link.SerialTransport(url) + DeviceLink; Ctrl-C stops")
        try:
            time.sleep(args.timeout)
        except KeyboardInterrupt:
            pass
    return 0


def _stream_blocks(model: ModelFile, path: str) -> np.ndarray:
    from tinyunfold.tools.deploy import input_shape

    if path.lower().endswith(".wav"):
        if kinds.get(model.kind).task != "features":
            raise ShapeError("a WAV input needs a front-end model", "pass .npy blocks instead")
        from scipy.io import wavfile

        from tinyunfold.models.frontend import frames_of, params_of

        p = params_of(model)
        rate, audio = wavfile.read(path)
        if rate != p.sample_rate:
            raise ShapeError(f"{path} is sampled at {rate} Hz, the model at {p.sample_rate} Hz")
        audio = audio.astype(np.float32)
        if audio.ndim > 1:
            audio = audio[:, 0]
        return frames_of(audio, p)
    x = _load_inputs(path)
    shape = input_shape(model)
    x = x[None] if x.shape == shape else x
    if x.shape[1:] != shape:
        raise ShapeError(
            f"{path} holds shape {x.shape}, the model takes blocks of shape {shape}",
            "pass one block or an array of blocks (B, ...)",
        )
    return x


def _stream(args: argparse.Namespace) -> int:
    use_build_dir(args)
    require_extra("device", "serial", "the serial link")
    from tinyunfold.tools.build import build_model
    from tinyunfold.tools.deploy import bits_equal, golden_batch
    from tinyunfold.tools.link import open_board

    model = load_model(args.model)
    blocks = _stream_blocks(model, args.input)
    res = build_model(model, args.board, args.kernels, program="stream")
    outs, exact = [], 0
    reference = golden_batch(model, blocks)
    with open_board(res.board, res.artifact, args.timeout) as session:
        info = session.link.hello()
        print(
            f"{res.board.name}: {info.kind} model, {info.in_len} -> {info.out_len} values (ABI {info.abi})"
        )
        for i, x in enumerate(blocks):
            out, ticks = session.link.infer(x.ravel(), info.out_len)
            ok = bits_equal(out, reference[i])
            exact += ok
            outs.append(out)
            print(
                f"block {i:4d}: {res.board.ticks_to_units(ticks):,} {res.board.counter_unit}, "
                f"{'bit-exact' if ok else 'MISMATCH'}, max {float(np.max(out)):.4g}"
            )
        session.link.bye()
    if args.output:
        np.save(args.output, np.stack(outs))
    print(f"{exact}/{len(blocks)} blocks bit-exact with the Python reference")
    return 0 if exact == len(blocks) else 1
