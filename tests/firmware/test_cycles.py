"""Cycle estimates (tools/cycles.py): the TB trace joined with the disassembly counts exactly what
QEMU's -icount counts, and the cycle table gives the by-hand count of a small kernel loop."""

import numpy as np
import pytest

from tinyunfold.golden import padnmf as golden
from tinyunfold.platform.boards import load_board
from tinyunfold.tools import cycles
from tinyunfold.tools.deploy import check_model

# The 8-float block of the kept dot product Wᵀ Q in tu_padnmf_layers_f32 (firmware/src), as
# compiled: two VLDMs of 8 registers, 8 VMUL.F32 + 8 VADD.F32 into one accumulator, loop counter.
DOT_BLOCK = ["vldmia", "vldmia"] + ["vmul.f32", "vadd.f32"] * 8 + ["subs", "bne.n"]


def _dot_tb(executed, insns):
    for tb in executed:
        mn = [insns[a].mnemonic for a in tb]
        ops = [insns[a].operands for a in tb]
        if mn == DOT_BLOCK and "{s0-s7}" in ops[0] and "!" in ops[1]:
            return tb
    raise AssertionError("the dot-product block is not among the executed TBs")


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500"])
def test_trace_counts_what_icount_counts_and_the_loop_by_hand(padnmf_model, board, tmp_path):
    model, rng = padnmf_model("padnmf", True, 4, n_bins=9, T=3, ranks=(3, 2, 3), K=5, C=2, n=4)
    spec = (rng.random((9, 4)) * 10).astype(np.float32)
    res = check_model(model, board, spec, "cmsis")
    assert res.bit_exact
    b = load_board(board)
    insns = cycles.disassemble(res.build.artifact)
    est = cycles.estimate(b, res.build.artifact, spec.astype("<f4").tobytes())
    # the forward pass in the trace = QEMU's count, less the timer reads around the call
    assert 0 <= res.count - est.instructions <= 16

    # the loop TB ran once per 8-float block of every kept dot product of every layer
    c = golden.constants(model)
    s = golden.support(c.dictionaries, c.mask, c.n_frames)
    blocks = int(np.sum(s.w_len[s.h_rows] >> 3)) * sum(c.counts)
    executed, taken = _trace(b, res.build.artifact, spec, insns, tmp_path)
    tb = _dot_tb(executed, insns)
    assert executed[tb] == blocks
    # by hand (cycle table of docs/architecture.md): VLDM 1+8 twice, 16 VFP ops, SUBS 1,
    # BNE 1 (+ refill P when taken): M4 38 taken / 36 not taken; M7 the same with P = 1: 37 / 36
    tab = cycles.table_for(b)
    one = cycles.weigh({tb: 1}, {tb: 1}, insns, tab)
    last = cycles.weigh({tb: 1}, {}, insns, tab)
    assert (one.cycles, last.cycles) == ((38, 36) if tab.core == "cortex-m4" else (37, 36))


def _trace(board, elf, spec, insns, tmp_path):
    """The executed TBs of one traced run (same machinery as estimate(), kept for inspection)."""
    import subprocess

    (tmp_path / "input.bin").write_bytes(spec.astype("<f4").tobytes())
    log = tmp_path / "trace.log"
    cmd = cycles.qemu_command(board, elf) + ["-d", "in_asm,exec,nochain", "-D", str(log)]
    subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=60, check=True)
    with open(log) as f:
        return cycles.parse_trace(f, insns)


def test_classes_of_the_cycle_table():
    def ins(mn, ops=""):
        return cycles.Insn(0, 4, mn, ops)

    assert cycles.classify(ins("vdiv.f32", "s0, s1, s2")) == "fp_div"
    assert cycles.classify(ins("vsqrt.f32", "s0, s1")) == "fp_sqrt"
    assert cycles.classify(ins("vldmia", "r0!, {s0-s7}")) == "multi"
    assert cycles.classify(ins("vldr", "s0, [r0]")) == "mem"
    assert cycles.classify(ins("ldr.w", "r0, [r1]")) == "mem"
    assert cycles.classify(ins("pop", "{r4, pc}")) == "multi"
    assert cycles.classify(ins("bne.n", "8c0")) == "branch"
    assert cycles.classify(ins("cbz", "r0, 8c0")) == "branch"
    assert cycles.classify(ins("movne", "r0, #1")) == "alu"
    assert cycles.classify(ins("udiv", "r0, r1, r2")) == "div"
    assert cycles._n_regs("r0!, {s0-s7}") == 8
    assert cycles._n_regs("{r4, r5, r6, lr}") == 4
