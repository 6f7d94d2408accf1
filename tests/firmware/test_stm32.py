"""The real STM32 parts: the STM32F405 under QEMU's netduinoplus2 (counter, clock fallback, boot
report) and the NUCLEO-F746ZG (build-only: compiled, size-checked, refused by the runners); the
memory maps; models that do not fit the part are refused with the size and what to shrink."""

import contextlib
import re
import subprocess
import time

import numpy as np
import pytest
from halted_qemu import halted_qemu

from tinyunfold.cli import main
from tinyunfold.errors import TinyUnfoldError
from tinyunfold.kinds import save_model
from tinyunfold.models.nmf import NMFInference
from tinyunfold.platform.boards import BOARDS_DIR, available_boards, load_board
from tinyunfold.tools.build import build_model, build_selftest
from tinyunfold.tools.deploy import check_model
from tinyunfold.tools.fit import DoesNotFitError, region_usage
from tinyunfold.tools.sim import run_elf


def _nmf(rng, F, R, K=4, N=2):
    W = rng.random((F, R)).astype(np.float32)
    return NMFInference(W, n_layers=K, alpha_h=0.01, n_frames=N).to_modelfile()


def test_boot_line_names_clock_counter_and_console():
    status, console = run_elf(load_board("stm32f405"), build_selftest("stm32f405", "fpu"), 20)
    assert status == 0 and "fpu: ok" in console
    boot = re.search(
        r"TU_BOOT stm32f405 core=(\d+) Hz clock=(.*) counter=(\w+) console=(\w+)", console
    )
    assert boot is not None, console
    # QEMU models no RCC: every ready-flag wait timed out and the part stayed on the 16 MHz HSI
    assert boot.group(1) == "16000000" and "PLL did not lock" in boot.group(2)
    assert boot.group(3) == "systick"  # DWT CYCCNT reads 0 under QEMU
    assert boot.group(4) == "semihosting"  # the simulator is detected (RCC reads 0)


def test_systick_counts_instructions_like_the_mps2_timer(rng):
    """SysTick at the 168 MHz virtual clock under -icount, converted with board.json, gives the
    instruction count the MPS2 AN386 TIMER0 gives for the same M4F code; 2x layers ~ 2x count."""
    model = _nmf(rng, 13, 5, K=20, N=3)
    X = rng.random((2, 13, 3)).astype(np.float32)
    a = check_model(model, "stm32f405", X)
    b = check_model(model, "stm32f405", X)
    ref = check_model(model, "mps2-an386", X)
    assert a.bit_exact and a.count == b.count > 0
    # 1 instruction = 10.752 SysTick ticks (the count is rounded) and each 2^24-tick wrap runs a
    # few handler instructions: equal to within 2 for this model of ~10^5 instructions
    assert abs(a.count - ref.count) <= 2
    longer = NMFInference(model.array("W"), n_layers=40, alpha_h=0.01, n_frames=3).to_modelfile()
    c = check_model(longer, "stm32f405", X).count
    assert 1.8 * a.count < c < 2.2 * a.count
    # the conversion is what makes them agree: raw SysTick ticks are 168e6 * 64e-9 per instruction
    assert load_board("stm32f405").ticks_to_units(10_752) == 1000


@pytest.mark.parametrize("program", ["vectors", "stream"])
def test_nucleo_f746zg_builds_and_fits(rng, program):
    board = load_board("nucleo-f746zg")
    assert not board.runs_here and "build-only" in board.description.lower()
    res = build_model(_nmf(rng, 64, 8, N=4), "nucleo-f746zg", program=program)
    used = region_usage(res.artifact, board)
    assert 0 < used["FLASH"] <= board.memory["FLASH"]["length"]
    assert 0 < used["RAM"] <= board.memory["RAM"]["length"]
    attrs = subprocess.run(
        ["arm-none-eabi-readelf", "-A", str(res.artifact)], capture_output=True, text=True
    ).stdout
    assert 'Tag_CPU_name: "7E-M"' in attrs or "cortex-m7" in attrs.lower(), attrs
    with open(res.artifact, "rb") as f:
        from elftools.elf.elffile import ELFFile

        text = ELFFile(f).get_section_by_name(".text")
        assert text["sh_addr"] == 0x08000000  # the vector table at the start of flash
        sp = int.from_bytes(text.data()[:4], "little")
    ram = board.memory["RAM"]
    assert ram["origin"] < sp <= ram["origin"] + ram["length"] and sp % 8 == 0  # stack in RAM


def test_build_only_board_is_refused_by_the_runners(rng):
    with pytest.raises(TinyUnfoldError, match="build-only"):
        check_model(_nmf(rng, 6, 2), "nucleo-f746zg", rng.random((1, 6, 2)).astype(np.float32))


@pytest.mark.parametrize("name", available_boards())
def test_board_json_memory_matches_the_linker_script(name):
    board = load_board(name)
    if board.is_host:
        return
    import json

    ld = (
        board.path / json.loads((board.path / "board.json").read_text())["linker_script"]
    ).resolve()
    sizes = {"K": 1024, "M": 1024 * 1024, "": 1}
    found = {
        m.group(1): {"origin": int(m.group(2), 16), "length": int(m.group(3)) * sizes[m.group(4)]}
        for m in re.finditer(
            r"^\s*(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN = 0x([0-9A-Fa-f]+), LENGTH = (\d+)([KM]?)",
            ld.read_text(),
            re.M,
        )
    }
    assert found == board.memory
    assert board.flash_bytes == board.memory["FLASH"]["length"]
    assert board.ram_bytes == board.memory["RAM"]["length"]
    assert (BOARDS_DIR / name / "board.json").is_file()


def test_model_too_big_for_the_stm32f405_is_refused_at_generation(rng, tmp_path, capsys):
    """W is 257 x 1100 float32 (1.13 MB): fits the 4 MB MPS2, not the 1 MB STM32F405."""
    model = _nmf(rng, 257, 1100)
    big = build_model(model, "mps2-an386")
    assert region_usage(big.artifact, big.board)["FLASH"] > 1024 * 1024
    weights = 4 * (257 * 1100 + 1100)  # W + the precomputed denominators
    with pytest.raises(DoesNotFitError) as err:
        build_model(model, "stm32f405")
    assert f"exceed the part's flash (1,048,576 B) by {weights - 1048576:,} B" in err.value.cause
    assert "rank R" in err.value.fix and "W 257x1100" in err.value.fix
    # through the CLI: one line for the cause, one for the fix, no traceback
    save_model(tmp_path / "big.tum", model)
    assert main(["build", "--model", str(tmp_path / "big.tum"), "--board", "stm32f405"]) == 2
    out = capsys.readouterr().err
    assert out.startswith("tinyunfold: error: the nmf model does not fit stm32f405")
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1 and "; fix: " in out


def test_model_plus_firmware_too_big_is_refused_at_link(rng):
    """Weights (1,044,000 B) alone fit the 1 MB flash; with the firmware they do not."""
    model = _nmf(rng, 260, 1000)
    with pytest.raises(
        DoesNotFitError,
        match=r"model \+ firmware exceed the part's FLASH \(1,048,576 B\) by [\d,]+ B",
    ) as err:
        build_model(model, "stm32f405")
    over = int(re.search(r"by ([\d,]+) B", err.value.cause).group(1).replace(",", ""))
    assert 0 < over < 1048576 + 20000 - 1044000  # the firmware around the weights is < 20 KB


@contextlib.contextmanager
def _as_silicon(elf, timeout_s=30.0):
    """Start ``elf`` on netduinoplus2 with the simulator detection answered "silicon" through GDB
    (breakpoint on it, return 0) and QEMU's semihosting off: the real-part paths under QEMU.
    Yields (UART transport, QEMU process, deadline)."""
    from tinyunfold.tools.flash import vector_table
    from tinyunfold.tools.link import _connect_serial

    with halted_qemu("stm32f405", serial=True, semihosting=False) as (proc, address, url):
        deadline = time.monotonic() + timeout_s
        uart = _connect_serial(url, proc, deadline)
        try:
            _, sp, pc = vector_table(elf)
            script = [
                f"target remote {address}", "load",
                f"set $sp = {sp:#x}", f"set $pc = {pc & ~1:#x}", "set $xpsr = 0x01000000",
                "break stm32_simulator_detected", "continue",
                "set $r0 = 0", "set $pc = $lr & ~1", "delete", "detach",
            ]  # fmt: skip
            gdb = ["gdb-multiarch", "-batch", "-nx"]
            gdb += [*[a for c in script for a in ("-ex", c)], str(elf)]
            log = subprocess.run(gdb, capture_output=True, text=True, timeout=timeout_s)
            assert "Breakpoint 1," in log.stdout, log.stdout + log.stderr
            yield uart, proc, deadline
        finally:
            uart.close()


def _run_as_silicon(elf):
    """The UART text of a program run as on silicon, up to its TU_EXIT line."""
    with _as_silicon(elf) as (uart, proc, deadline):
        text = b""
        while b"TU_EXIT" not in text and time.monotonic() < deadline:
            text += uart.read(256)
        while not text.endswith(b"\n") and time.monotonic() < deadline:
            text += uart.read(1)
        assert proc.poll() is None  # no semihosting exit: the part reported on the UART and stopped
    return text.decode(errors="replace")


def test_silicon_path_reports_on_the_uart_and_never_semihosts(rng):
    """On a real part (no debugger attached) the console and the exit status go to the UART, and
    the test-vector program gets no files instead of executing a semihosting BKPT (which would
    HardFault without a debugger: a TU_FAULT line would show it)."""
    ok = _run_as_silicon(build_selftest("stm32f405", "fpu"))
    assert "console=uart" in ok and "TU_SELFTEST fpu: ok\n" in ok and ok.endswith("TU_EXIT 0\n")
    fault = _run_as_silicon(build_selftest("stm32f405", "fault"))
    assert re.search(r"TU_FAULT exc=00000003 pc=[0-9a-f]{8} cfsr=[0-9a-f]{8}\n", fault), fault
    assert fault.endswith("TU_EXIT 100\n")
    vec = _run_as_silicon(build_model(_nmf(rng, 6, 2), "stm32f405").artifact)
    assert "TU_ERROR cannot open input.bin" in vec and vec.endswith("TU_EXIT 2\n")
    assert "TU_FAULT" not in vec


def test_silicon_stream_bit_exact_after_the_boot_line(rng):
    """The real-part streaming firmware: its boot line shares the UART with the frames; the host
    skips it and every result is bit-exact."""
    from tinyunfold.tools.deploy import golden_batch
    from tinyunfold.tools.link import DeviceLink

    model = _nmf(rng, 9, 3, K=5, N=2)
    X = rng.random((2, 9, 2)).astype(np.float32)
    with _as_silicon(build_model(model, "stm32f405", program="stream").artifact) as (uart, _, _):
        link = DeviceLink(uart, timeout_s=20)
        link.wait_ready()
        for x in X:
            out, ticks = link.infer(x.ravel(), 6)
            assert np.array_equal(
                out.view(np.uint32), golden_batch(model, x[None])[0].view(np.uint32)
            )
            assert ticks > 0
        link.bye()
        tail = b""
        while not tail.endswith(b"\n"):
            tail += uart.read(1) or b"\n"
        assert tail == b"TU_EXIT 0\n"
