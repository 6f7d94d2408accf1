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
        "with the golden reference. For a hit detector and a WAV input: build the detector "
        "firmware (audio in, hits out), stream the WAV to it over the serial link and compare its "
        "events with those of `tinyunfold detect` (score/threshold bits). Exit status 1 when any "
        "bit differs.",
    )
    _common(r)
    r.add_argument(
        "--input",
        required=True,
        help=".npy input: one block (F, N) or blocks (B, F, N); or a .wav for a detector",
    )
    r.add_argument("--json", action="store_true", help="detector: print the report as JSON")
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
        "--serial-port",
        type=tcp_port,
        help="TCP port of the board's UART (default or 0: a free one; the URL is printed)",
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

    sm = sub.add_parser(
        "sim",
        help="serve a simulated board's UART on a TCP port for any client (detector or stream)",
        description="Build the model's firmware (the detector firmware for a hit detector, else "
        "the streaming firmware), start it in QEMU and serve the board's UART on "
        "socket://127.0.0.1:--port. QEMU waits for the first client before the CPU starts, so "
        "that client receives the boot INFO; clients may disconnect and reconnect (HELLO asks for "
        "INFO). Runs until the firmware ends (BYE), --timeout, or Ctrl-C.",
        epilog="then: tinyunfold stream --port socket://127.0.0.1:5555 mix.wav --json",
    )
    _common(sm)
    sm.add_argument(
        "--port",
        type=tcp_port,
        default=5555,
        help="TCP port of the UART (default 5555; 0: a free one, the URL is printed)",
    )
    sm.add_argument(
        "--timeout", type=float, default=3600.0, help="stop the board after this many seconds"
    )
    sm.set_defaults(func=_sim)

    st = sub.add_parser(
        "stream",
        help="stream a WAV to a detector over a serial link (client), or blocks to a board",
        description="Client: `tinyunfold stream --port URL mix.wav` sends the WAV as AUDIO frames "
        "within the device's credit to a running detector (`tinyunfold sim`, a board on "
        "/dev/ttyACM0, rfc2217://...) and prints one line (--json: one JSON object) per hit, a "
        "summary and the device's STATS; with --model it also compares the events with "
        "`tinyunfold detect`, bit for bit. Without --port: flash the streaming firmware with "
        "--model/--board and send each block of --input, checking every result's bits.",
    )
    st.add_argument("wav", nargs="?", help="client mode: the WAV file to stream")
    st.add_argument(
        "--port", help="client mode: serial URL (socket://127.0.0.1:5555, /dev/ttyACM0)"
    )
    st.add_argument(
        "--baud",
        type=int,
        default=115200,
        help="client mode: baud rate of a real serial device (default 115200; docs/boards.md)",
    )
    st.add_argument("--json", action="store_true", help="client mode: JSON lines")
    st.add_argument(
        "--model", help="model file (.tum); client mode: compare with its golden events"
    )
    st.add_argument("--board", help=f"one of: {', '.join(available_boards())}")
    st.add_argument("--kernels", default="cmsis", choices=("cmsis", "ref"))
    add_build_dir_argument(st)
    st.add_argument("--input", help=".npy blocks (B, ...) or, for spectrogram models, a .wav")
    st.add_argument("--output", help="write the device outputs (.npy)")
    st.add_argument("--timeout", type=float, default=300.0, help="wall-clock limit, seconds")
    st.add_argument("--no-progress", action="store_true", help="client mode: no progress bar")
    st.add_argument(
        "--bye", action="store_true", help="client mode: end the firmware after the stream (BYE)"
    )
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
        default="scenarios,dnmfd,detector,piano,demo,streaming",
        help="comma-separated subset of scenarios,dnmfd,detector,piano,demo,streaming "
        "(streaming: tiny trained PAD-NMF/Deep-NMF/Deep-NMFD detectors streaming a WAV to the "
        "boards)",
    )
    be.add_argument(
        "--stream-detector",
        help="trained detector .tum streamed through the detector firmware (with --stream-dataset)",
    )
    be.add_argument("--stream-dataset", help="its dataset folder: test mixtures are streamed")
    be.add_argument("--stream-mixtures", type=int, default=2, help="test mixtures streamed")
    add_build_dir_argument(be)
    be.add_argument(
        "--layers",
        type=int,
        nargs="+",
        default=[1, 100],
        metavar="K",
        help="unrolled layers of the demo model, one row set per K (default: 1 100)",
    )
    be.set_defaults(func=_bench)


def tcp_port(v: str) -> int:
    """argparse type of a TCP port to listen on: 0 (any free one) to 65535."""
    try:
        port = int(v)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{v!r} is not a TCP port (0 for any free one, to 65535)")
    return port


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

    model = load_model(args.model)
    program = _program(model)
    if kinds.get(model.kind).task == "detector" and program != "detector":
        from tinyunfold.pipelines.detect import stream_config

        try:
            stream_config(model)
        except TinyUnfoldError as err:
            print(f"note: no detector firmware (audio in, hits out): {err.cause}")
    res = build_model(model, args.board, args.kernels, program=program)
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
    """A numeric, non-empty, finite .npy input (datasets.io.read_npy) as float32."""
    from tinyunfold.datasets.io import read_npy

    x = read_npy(path, "input")
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    if not np.all(np.isfinite(x32)):
        raise ShapeError(f"input {path} has values beyond float32 range", "scale the input")
    return x32


def _checked_blocks(model: ModelFile, x: np.ndarray, path: str) -> np.ndarray:
    """``x`` as blocks (B, *input_shape); the golden reference's cost is checked before it runs."""
    from tinyunfold.modelfile import check_golden_cost
    from tinyunfold.tools.deploy import input_shape

    shape = input_shape(model)
    x = x[None] if x.shape == shape else x
    if x.shape[1:] != shape:
        raise ShapeError(
            f"{path} holds shape {x.shape}, the model takes blocks of shape {shape}",
            "pass one block or an array of blocks (B, ...)",
        )
    check_golden_cost(model, len(x), int(np.prod(shape)))
    return x


def _run(args: argparse.Namespace) -> int:
    use_build_dir(args)
    from tinyunfold.tools.deploy import check_model

    if args.input.lower().endswith(".wav"):
        return _run_detector(args)
    model = load_model(args.model)
    blocks = _checked_blocks(model, _load_inputs(args.input), args.input)
    res = check_model(model, args.board, blocks, args.kernels, args.timeout)
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


def _demo(args: argparse.Namespace) -> int:
    use_build_dir(args)
    from tinyunfold.kinds import save_model
    from tinyunfold.pipelines.demo import check_all, demo_front_end, demo_model, golden_vs_float64

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
    rel, corr = golden_vs_float64(model, X, H_true)
    print(
        f"python: float32 golden vs float64 max rel. difference {rel:.2e}; "
        f"correlation of H with the true activations {corr:.3f}"
    )
    reports = check_all(model, X, ["host", *QEMU_BOARDS], ["cmsis"], _print_check)
    fe_model, frames = demo_front_end()
    print(
        f"front-end: {fe_model.params['features']['n_fft']}-point frames -> "
        f"{fe_model.params['features']['n_bands']} bands (window, arm_rfft_fast_f32, power, band sums)"
    )
    reports += check_all(fe_model, frames, list(QEMU_BOARDS), ["cmsis"], _print_check)
    det = _demo_detector(out / "detector")
    reports.append(det)
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
    return 0 if ok else 1  # 1: bits differ (docs/errors.md), the report names where


def _demo_detector(out: Path) -> dict[str, Any]:
    """Train the tiny synthetic PAD-NMF detector, then stream a two-hit WAV to the simulated
    Cortex-M4F over the serial link; print its events next to the host's and the verdict."""
    require_extra("train", "torch", "training the demo detector")
    require_extra("device", "serial", "the serial link")
    from tinyunfold.pipelines.demo import demo_detector

    t = time.time()
    d = demo_detector(out)
    cfg = d.config
    print(
        f"detector: PAD-NMF trained on {d.dataset} in {time.time() - t:.1f} s "
        f"({cfg.sample_rate} Hz, {cfg.n_fft}-point frames every {cfg.hop} samples, "
        f"{cfg.n_bins} bands, windows of {cfg.n_frames} frames, classes {', '.join(cfg.class_names)})"
    )
    print(f"streamed {d.wav} to the simulated Cortex-M4F (mps2-an386) over the serial link")
    rep = d.report
    n = max(len(rep["events"]), len(rep["golden_events"]))
    print(f"  {'device (mps2-an386)':<62s} | host (tinyunfold detect)")
    for i in range(n):
        e = _event_line(rep["events"][i]) if i < len(rep["events"]) else "-"
        g = _event_line(rep["golden_events"][i]) if i < len(rep["golden_events"]) else "-"
        print(f"  {e:<62s} | {g}")
    print(
        f"  {rep['instructions_per_window']:,} instructions/window, "
        f"{rep['instructions_per_frame']:,} instructions/frame; verdict: "
        f"{'BIT-EXACT' if rep['bit_exact'] else 'MISMATCH'}"
    )
    return {"check": "detector", "model": str(d.model_path), "wav": str(d.wav), **rep}


def _bench(args: argparse.Namespace) -> int:
    use_build_dir(args)
    from tinyunfold.pipelines import bench
    from tinyunfold.pipelines.demo import check_all, demo_model
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
        for layers in args.layers:
            model, _, X = demo_model(layers)
            for r in check_all(model, X, list(QEMU_BOARDS), ["cmsis", "ref"], _print_check):
                r["layers"] = layers
                rows.append(r)
    streaming = bench.streaming_detector_rows(out / "detector") if "streaming" in which else []
    if "streaming" in which and args.stream_detector and args.stream_dataset:
        streaming += bench.trained_streaming_rows(
            Path(args.stream_detector), Path(args.stream_dataset), args.stream_mixtures
        )
    report = {"entries": entries, "demo": rows, "streaming": streaming}
    (out / "report.json").write_text(json.dumps(report, indent=1))
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
    if streaming:
        md += "\nStreaming detectors (audio in, hits out):\n\n" + bench.streaming_markdown(
            streaming
        )
    (out / "report.md").write_text(md)
    print(md)
    print(f"written: {out / 'report.json'}, {out / 'report.md'}")
    ok = all(e["bit_exact"] for e in entries + rows + streaming)
    return 0 if ok else 1


def _flash(args: argparse.Namespace) -> int:
    use_build_dir(args)
    require_extra("device", "serial", "the serial link")
    from tinyunfold.tools.build import build_model

    model = load_model(args.model)
    res = build_model(model, args.board, args.kernels, program=_program(model, serial=True))
    if res.board.is_host:
        raise TinyUnfoldError("flash needs a board", f"choose one of {', '.join(QEMU_BOARDS)}")
    if args.gdb or args.probe:
        from tinyunfold.tools.flash import flash_to_part

        print(flash_to_part(res.board, res.artifact, args.gdb, args.probe))
        return 0
    # Loaded through GDB; the UART is left to the client (QEMU takes one client at a time).
    return _serve(res, args.serial_port, args.timeout, load="gdb")


def _stream_blocks(model: ModelFile, path: str) -> np.ndarray:
    if path.lower().endswith(".wav"):
        if kinds.get(model.kind).task != "features":
            raise ShapeError("a WAV input needs a front-end model", "pass .npy blocks instead")
        from tinyunfold.datasets.io import read_wav
        from tinyunfold.models.frontend import frames_of, params_of

        p = params_of(model)
        rate, audio = read_wav(path)  # the one WAV reader (mono, PCM scaled to [-1, 1))
        if rate != p.sample_rate:
            raise ShapeError(
                f"{path} is sampled at {rate} Hz, the model at {p.sample_rate} Hz",
                "resample the recording (e.g. `sox in.wav -r RATE out.wav`)",
            )
        return _checked_blocks(model, frames_of(audio, p), path)
    return _checked_blocks(model, _load_inputs(path), path)


def _stream(args: argparse.Namespace) -> int:
    if args.port is not None:
        return _stream_client(args)
    if args.model is None or args.board is None or args.input is None:
        raise TinyUnfoldError(
            "stream needs --port URL and a WAV (client), or --model, --board and --input",
            "e.g. tinyunfold stream --port socket://127.0.0.1:5555 mix.wav",
        )
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


# ------------------------------------------------------------------ detector: run, sim, stream


def _program(model: ModelFile, serial: bool = False) -> str:
    """The firmware a model gets: the detector program for a streaming detector, else the
    streaming program (``serial``: flash, sim) or the test-vector program (build)."""
    from tinyunfold.pipelines.detect import deployable

    if kinds.get(model.kind).task == "detector" and deployable(model):
        return "detector"
    return "stream" if serial else "vectors"


def _event_line(e: dict[str, Any]) -> str:
    return (
        f"w{e['window']:<3d} t={e['time_s']:7.3f} s  {e['class']:<10s} onset {e['onset_frame']:>3d}"
        f"  score {e['score_bits']} > {e['threshold_bits']}"
    )


def _run_detector(args: argparse.Namespace) -> int:
    require_extra("device", "serial", "the serial link")
    from tinyunfold.pipelines.detect import read_pcm, stream_config
    from tinyunfold.tools.detector import run_detector

    model = load_model(args.model)
    cfg = stream_config(model)
    pcm = read_pcm(args.input, cfg)
    r = run_detector(model, args.board, pcm, args.kernels, args.timeout)
    rep = r.report()
    if args.json:
        print(json.dumps(rep, indent=1))
        return 0 if r.bit_exact else 1
    print(
        f"{r.board} ({r.kernels}): {rep['samples']} samples, {rep['frames']} frames, "
        f"{rep['windows']} windows (stride {cfg.stride} of {cfg.n_frames} frames)"
    )
    n = max(len(rep["events"]), len(rep["golden_events"]))
    print(f"  {'device':<62s} | host (tinyunfold detect)")
    for i in range(n):
        d = _event_line(rep["events"][i]) if i < len(rep["events"]) else "-"
        g = _event_line(rep["golden_events"][i]) if i < len(rep["golden_events"]) else "-"
        print(f"  {d:<62s} | {g}")
    if n == 0:
        print("  no hit                                                         | no hit")
    u = r.unit
    print(
        f"  {rep[f'{u}_per_frame']:,} {u}/frame, {rep[f'{u}_per_window']:,} {u}/window, "
        f"stack {rep['stats']['stack_hwm']} B"
    )
    verdict = "BIT-EXACT" if r.bit_exact else "MISMATCH"
    print(f"verdict: {verdict} ({len(rep['events'])} events, score/threshold compared as uint32)")
    for m in r.mismatches:
        print(f"  {m}")
    return 0 if r.bit_exact else 1


def _serve(res: Any, port: int | None, timeout: float, load: str) -> int:
    import subprocess

    from tinyunfold.tools.detector import serve

    with serve(res.board, res.artifact, port, timeout, load=load) as s:
        print(f"{res.board.name}: {res.artifact.name}; serial link on {s.url}", flush=True)
        print(
            f"connect a client, e.g. tinyunfold stream --port {s.url} mix.wav; Ctrl-C stops",
            flush=True,
        )
        try:
            s.proc.wait(timeout=timeout)
        except KeyboardInterrupt:
            s.proc.kill()  # Ctrl-C: stop the board now
        except subprocess.TimeoutExpired:
            pass  # serve() ends the board
    print(f"board stopped (status {s.exit_status})")
    if s.console.strip():
        print(s.console.strip()[-2000:])
    return 0


def _sim(args: argparse.Namespace) -> int:
    use_build_dir(args)
    from tinyunfold.tools.build import build_model

    model = load_model(args.model)
    res = build_model(model, args.board, args.kernels, program=_program(model, serial=True))
    if res.board.is_host or res.board.runner.get("kind") != "qemu":
        raise TinyUnfoldError(
            f"{res.board.name} is not simulated", f"choose one of {', '.join(QEMU_BOARDS)}"
        )
    return _serve(res, args.port, args.timeout, load="kernel")


def _stream_client(args: argparse.Namespace) -> int:
    require_extra("device", "serial", "the serial link")
    from tinyunfold.golden import stream as gstream
    from tinyunfold.pipelines.detect import stream_config
    from tinyunfold.tools.detector import check_info, compare_events, connect, stream_pcm

    if args.wav is None:
        raise TinyUnfoldError(
            "stream --port needs a WAV file", "tinyunfold stream --port URL x.wav"
        )
    rate, pcm = gstream.read_pcm16(args.wav)
    link = connect(args.port, timeout_s=min(60.0, args.timeout), baudrate=args.baud)
    info = link.hello().info
    assert info is not None
    if info.sample_rate == 0:
        raise TinyUnfoldError(
            f"the device at {args.port} runs a {info.kind} model without an audio front-end",
            "start a detector: tinyunfold sim --model DETECTOR.tum --board B",
        )
    if rate != info.sample_rate:
        raise TinyUnfoldError(
            f"{args.wav} is sampled at {rate} Hz, the detector at {info.sample_rate} Hz",
            "resample the recording",
        )
    cfg = None
    if args.model:
        model = load_model(args.model)
        cfg = stream_config(model)
        check_info(info, cfg, model)
    names = info.class_names

    def show(ev: Any) -> None:
        e = {
            "window": ev.window,
            "start_sample": ev.start_sample,
            "class": names[ev.class_index] if ev.class_index < len(names) else ev.class_index,
            "onset_frame": ev.onset_frame,
            "time_s": (ev.start_sample + ev.onset_frame * info.hop) / info.sample_rate,
            "score_bits": f"0x{ev.score_bits:08x}",
            "threshold_bits": f"0x{ev.thresh_bits:08x}",
        }
        ge = to_golden_event(ev)
        e["score"], e["threshold"] = float(ge.score), float(ge.threshold)
        bar.clear()
        print(json.dumps(e) if args.json else _event_line(e), flush=True)

    from tqdm import tqdm

    from tinyunfold.tools.detector import to_golden as to_golden_event

    if not args.json:
        print(
            f"{args.port}: {info.kind} detector, {info.sample_rate} Hz, hop {info.hop}, "
            f"window {info.window} frames, stride {info.stride}, classes {', '.join(names)}"
        )
    bar = tqdm(
        total=len(pcm), unit="sample", disable=True if args.no_progress else None, leave=False
    )

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    link.on_event = show
    run = stream_pcm(link, info, pcm, progress)
    bar.close()
    if args.bye:
        link.bye()
    st = run.stats
    summary = {
        "summary": {
            "samples": run.n_samples,
            "seconds": run.n_samples / info.sample_rate,
            "events": len(run.events),
            "wall_s": round(run.wall_s, 3),
            "link": link.counts.__dict__,
        },
        "stats": st.__dict__,
    }
    verdict = None
    if cfg is not None:
        golden = gstream.run_stream(cfg, pcm).events
        mism = compare_events(run.events, golden)
        verdict = "BIT-EXACT" if not mism else "MISMATCH"
        summary["summary"]["verdict"] = verdict
        summary["summary"]["mismatches"] = mism
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{run.n_samples} samples ({run.n_samples / info.sample_rate:.2f} s) in "
            f"{run.wall_s:.2f} s: {len(run.events)} hits"
            + (f"; verdict vs tinyunfold detect: {verdict}" if verdict else "")
        )
        print(
            f"STATS: ticks/window last {st.ticks_last:,} max {st.ticks_max:,}; "
            f"overruns {st.overruns}, CRC errors {st.crc_errors}, resyncs {st.resyncs}, "
            f"duplicates {st.duplicates}, stack {st.stack_hwm} B"
        )
    return 0 if verdict in (None, "BIT-EXACT") else 1
