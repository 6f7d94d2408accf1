"""The streaming detector pipeline, float32 golden side: audio in, hits out.

One definition, shared by ``tinyunfold detect`` (host), the detector firmware
(``firmware/app/detector_main.c``, generated constants from ``codegen/templates/padnmf``) and the
comparisons of ``tinyunfold run`` / ``stream``. Every step is float32 in the firmware's order, so the
events agree bit for bit (score and threshold compared as uint32)::

    int16 PCM s[i]                                   (WAV: :func:`pcm16`, one rounding rule)
      -> x[i] = float32(s[i]) * 2^-15                 exact (PCM_SCALE; C: TU_MODEL_PCM_SCALE)
      -> frame j = x[j*hop : j*hop + n_fft]           j = 0, 1, ... (no padding)
      -> band powers  tu_spectrogram_frame_f32        golden/spectrogram.py (host CMSIS-DSP rfft)
      -> * float32(input_scale)                       one float32 multiply per band
      -> ring of the last n frames
      -> window w = frames [w*stride, w*stride + n)   every ``stride`` frames (stride <= n: overlap)
         X~ (m' x n), column j = frame w*stride + j
      -> forward pass H = f(X~)                       the kind's golden forward (StreamConfig.
                                                     forward_f32): golden/padnmf.py (tu_hankel_f32
                                                     + layers), golden/dnmfd.py (NMFD layers)
         warm start (below): H⁽⁰⁾ of window w > 0 from window w-1's H⁽ᴷ⁾ (tu_model_forward_warm)
      -> indices ln I(l) and shifts                   golden/detect.py (tu_detect_indices_f32)
      -> decision: threshold (4.3.32), UR (4.3.37) or the readout of H (or of X~:
         readout_input = "spectrum"), with top_k
         (tu_detect_decide_f32 / tu_ur_* / tu_detect_readout_f32 [+ _sets_f32: label sets])
      -> events (window, start sample, class, onset frame, score, threshold)
      -> dedupe (below)

``stride`` is a model parameter (``params["stream"]["stride"]``, default n: non-overlapping
windows), as is the decision rule the device runs (``params["stream"]["decision"]``, default
``"threshold"``); ``tinyunfold model stream`` sets them.

**Warm start** (issue 10, :attr:`StreamConfig.warm`): when the model's ``warm_stride`` (a
forward-pass parameter, ``golden.padnmf.warm_start_f32``) equals the stream ``stride``, window
w > 0 starts from window w-1's H⁽ᴷ⁾ shifted by the stride, floored at ε, on the support of M^H
(1 where the shifted entry has no predecessor). Window 0 of a stream starts cold (1 ∘ M^H); so does
every window when ``warm_stride`` is 0 or differs from ``stride`` (the warm table shifts by
``warm_stride`` frames, which would not be the previous window's frames). There is no gap inside a
stream: the device refuses audio past ``next_sample`` (ERROR GAP), so consecutive windows are
always ``stride`` frames apart; a new stream (AUDIO at sample 0) starts cold again.

**Dedupe rule** (the same on both sides): a hit's absolute onset frame is
``w*stride + onset_frame``. An event is dropped when the *last reported* event of the same class had
the same absolute onset frame (a hit seen by several overlapping windows at the same frame is one
hit). The state is one onset per class. With non-overlapping windows (stride >= n) no event is ever
dropped, because absolute onsets of different windows lie in disjoint frame ranges.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.detection import Detector
from tinyunfold.errors import ModelFileError, ShapeError, TinyUnfoldError, ValueDomainError
from tinyunfold.features import SpectrogramParams
from tinyunfold.golden import detect as gdetect
from tinyunfold.golden import padnmf as gpadnmf
from tinyunfold.golden import spectrogram as gspec
from tinyunfold.golden.linalg import F32
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.padnmf import BlockLayout

PCM_SCALE = F32(2.0**-15)  # int16 -> float32, exact (a power of two)
DECISIONS = gdetect.METHODS  # ("threshold", "ur", "readout")
MAX_CLASSES = 16  # INFO carries at most 16 class names (docs/protocol.md)
MAX_NAME = 24
NO_ONSET = 0xFFFFFFFF  # "no event of this class yet" (the device's initial value)


class DetectorDeployError(ModelFileError):
    """The model cannot run as a streaming detector (the reason and the fix)."""


@dataclass(frozen=True)
class StreamConfig:
    """Everything the streaming detector runs with (host golden and device constants).

    Attributes
    ----------
    sample_rate, n_fft, hop : the front-end framing (samples).
    n_frames : n, frames per window. stride : frames between window starts (>= 1).
    input_scale : float32 factor applied to every band power.
    decision : ``"threshold"``, ``"ur"`` or ``"readout"`` (the rule the device runs).
    front : window and band edges. forward : the network's constants (PAD-NMF / Deep-NMF
        :class:`~tinyunfold.golden.padnmf.PADNMFConstants`, Deep-NMFD
        :class:`~tinyunfold.golden.dnmfd.DNMFDConstants`; both have ``n_bins``, ``n_frames``).
    detect : indices / thresholds / UR constants. class_names : L names.
    forward_f32 : ``(forward, X~ (m' x n)) -> H (rank x n)``, the kind's bit-exact float32
        forward pass (the generated ``tu_model_forward``).
    """

    sample_rate: int
    n_fft: int
    hop: int
    n_frames: int
    stride: int
    input_scale: np.float32
    decision: str
    front: gspec.FrontEndConstants
    forward: Any
    detect: gdetect.DetectParams
    class_names: tuple[str, ...]
    forward_f32: Callable[..., np.ndarray] = gpadnmf.padnmf_forward_f32

    @property
    def n_bins(self) -> int:
        return self.forward.n_bins

    @property
    def warm(self) -> bool:
        """True when windows after the first start warm (model ``warm_stride`` == ``stride``)."""
        return 0 < self.forward.warm_stride == self.stride

    @property
    def window_samples(self) -> int:
        """Samples one window spans: (n - 1) * hop + n_fft."""
        return (self.n_frames - 1) * self.hop + self.n_fft


def stream_params(params: dict[str, Any], n_frames: int) -> tuple[int, str]:
    """(stride, decision) of a model's ``params["stream"]``, checked; defaults (n, threshold)."""
    s = params.get("stream") or {}
    if not isinstance(s, dict) or set(s) - {"stride", "decision"}:
        raise DetectorDeployError(
            f"params['stream'] must be a dict with stride and decision, got {s!r}",
            "set it with `tinyunfold model stream M --stride S --decision threshold|ur|readout`",
        )
    stride = s.get("stride", n_frames)
    decision = s.get("decision", "threshold")
    if not isinstance(stride, int) or isinstance(stride, bool) or not 1 <= stride <= 65535:
        raise DetectorDeployError(
            f"stream stride must be an integer in 1..65535, got {stride!r}",
            f"use 1 <= stride <= n_frames ({n_frames}) for overlapping windows",
        )
    if decision not in DECISIONS:
        raise DetectorDeployError(
            f"stream decision must be one of {DECISIONS}, got {decision!r}",
            "set it with `tinyunfold model stream M --decision threshold|ur|readout`",
        )
    return stride, decision


def stream_config(
    model: ModelFile,
    constants: Callable[[ModelFile], Any] = gpadnmf.constants,
    forward_f32: Callable[..., np.ndarray] = gpadnmf.padnmf_forward_f32,
) -> StreamConfig:
    """The streaming detector of a hit-detector model file.

    ``constants`` / ``forward_f32`` are the kind's golden network (defaults: PAD-NMF and
    Deep-NMF, :mod:`tinyunfold.golden.padnmf`; the ``dnmfd`` kind passes
    :mod:`tinyunfold.golden.dnmfd`'s). The network's H rows are the layout's blocks.

    Raises
    ------
    DetectorDeployError : the model cannot run as audio-in/hits-out detector (no front-end,
        log-compressed features, no fitted detector, a decision rule the device does not run,
        too many classes); the message names the reason and the fix.
    """
    p = model.params
    if p.get("features") is None:
        raise DetectorDeployError(
            "the model has no audio front-end (imported from precomputed spectrograms)",
            "train it with `tinyunfold train padnmf --dataset D` to stream audio; "
            "its forward pass alone still deploys (INFER)",
        )
    feats = SpectrogramParams.from_dict(p["features"])
    if feats.log:
        raise DetectorDeployError(
            "log-compressed features (features.log = true) do not run on the device",
            "train with features.log = false",
        )
    if "detection" not in p:
        raise DetectorDeployError(
            "the model has no fitted detector (thresholds)",
            "train it with `tinyunfold train`, or import with --training-set",
        )
    forward = constants(model)
    det = Detector.from_model(p, model.arrays)
    layout = BlockLayout.from_params(p["layout"])
    try:
        dparams = gdetect.params_from_detector(det, layout, forward.n_frames)
    except ValueDomainError as err:
        raise DetectorDeployError(err.cause, err.fix) from None
    stride, decision = stream_params(p, forward.n_frames)
    if decision == "ur" and dparams.ur is None:
        raise DetectorDeployError(
            "the model's stream decision is 'ur' but it has no uncertainty-reduction matrix",
            "use --decision threshold, or train with training mixtures",
        )
    if decision == "readout" and dparams.readout is None:
        raise DetectorDeployError(
            "the model's stream decision is 'readout' but it has no readout",
            'use --decision threshold, or train with [detection] readout = true or readout = "sets"',
        )
    names = tuple(str(c) for c in layout.class_names)
    if len(names) > MAX_CLASSES or any(len(c.encode()) > MAX_NAME for c in names):
        raise DetectorDeployError(
            f"{len(names)} classes / names up to {max(len(c) for c in names)} bytes: INFO carries "
            f"at most {MAX_CLASSES} names of {MAX_NAME} bytes",
            "use fewer classes or shorter class names",
        )
    front = gspec.constants(feats)
    if front.n_features != forward.n_bins:
        raise DetectorDeployError(
            f"the front-end gives {front.n_features} bands, the network takes {forward.n_bins}",
            "retrain the model with its own front-end",
        )
    if feats.hop > 65535 or forward.n_frames > 65535:
        raise DetectorDeployError("hop and n_frames must fit 16 bits (INFO)", "use smaller ones")
    return StreamConfig(
        sample_rate=int(feats.sample_rate),
        n_fft=int(feats.n_fft),
        hop=int(feats.hop),
        n_frames=int(forward.n_frames),
        stride=stride,
        input_scale=F32(float(p.get("input_scale", 1.0))),
        decision=decision,
        front=front,
        forward=forward,
        detect=dparams,
        class_names=names,
        forward_f32=forward_f32,
    )


def pcm16(x: np.ndarray) -> np.ndarray:
    """Samples in [-1, 1) (float, e.g. from ``read_wav``) -> int16 PCM: round(x * 32768), clipped.

    Integer WAVs come back exactly (read_wav divides int16 by 32768); float WAVs are quantised once,
    here, for the host and the device alike.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def read_pcm16(path: str | Path) -> tuple[int, np.ndarray]:
    """(sample rate, int16 PCM) of a mono WAV file: the one WAV reader of the streaming tools."""
    from tinyunfold.datasets import read_wav

    rate, x = read_wav(path)
    return rate, pcm16(x)


def n_frames_of(cfg: StreamConfig, n_samples: int) -> int:
    return 0 if n_samples < cfg.n_fft else 1 + (n_samples - cfg.n_fft) // cfg.hop


def n_windows_of(cfg: StreamConfig, n_samples: int) -> int:
    nf = n_frames_of(cfg, n_samples)
    return 0 if nf < cfg.n_frames else 1 + (nf - cfg.n_frames) // cfg.stride


def frames_f32(cfg: StreamConfig, pcm: np.ndarray) -> np.ndarray:
    """Band powers x input_scale of every frame: int16 (S,) -> (n_frames_of(S), m') float32."""
    pcm = np.asarray(pcm)
    if pcm.ndim != 1 or pcm.dtype != np.int16:
        raise ShapeError(f"need 1-D int16 PCM, got {pcm.dtype} {pcm.shape}", "use pcm16()")
    nf = n_frames_of(cfg, len(pcm))
    if nf == 0:
        return np.zeros((0, cfg.n_bins), dtype=F32)
    x = pcm.astype(F32) * PCM_SCALE
    idx = np.arange(nf)[:, None] * cfg.hop + np.arange(cfg.n_fft)[None, :]
    bands = gspec.frame_power_f32(cfg.front, x[idx])  # row by row, the firmware's bits
    return (bands * cfg.input_scale).astype(F32)


@dataclass(frozen=True)
class Event:
    """One hit as the device sends it (EVENT frame, docs/protocol.md)."""

    window: int
    start_sample: int
    class_index: int
    onset_frame: int  # inside the window
    score: np.float32
    threshold: np.float32

    def key(self) -> tuple[int, int, int, int, int, int]:
        """The fields with score/threshold as uint32 bits: what bit-exact comparisons compare."""
        return (
            self.window,
            self.start_sample,
            self.class_index,
            self.onset_frame,
            int(np.float32(self.score).view(np.uint32)),
            int(np.float32(self.threshold).view(np.uint32)),
        )

    def abs_onset(self, stride: int) -> int:
        return self.window * stride + self.onset_frame

    def to_dict(self, cfg: StreamConfig) -> dict[str, Any]:
        """JSON fields (shared by ``detect``, ``run`` and ``stream``)."""
        onset_sample = self.start_sample + self.onset_frame * cfg.hop
        return {
            "window": self.window,
            "start_sample": self.start_sample,
            "class": cfg.class_names[self.class_index],
            "class_index": self.class_index,
            "onset_frame": self.onset_frame,
            "time_s": onset_sample / cfg.sample_rate,
            "score": float(self.score),
            "threshold": float(self.threshold),
            "score_bits": f"0x{int(np.float32(self.score).view(np.uint32)):08x}",
            "threshold_bits": f"0x{int(np.float32(self.threshold).view(np.uint32)):08x}",
        }


def dedupe(events: list[Event], stride: int, n_classes: int) -> list[Event]:
    """The dedupe rule of the module docstring, in event order (C: one onset per class)."""
    last = [NO_ONSET] * n_classes
    out = []
    for e in events:
        a = e.abs_onset(stride)
        if last[e.class_index] == a:
            continue
        last[e.class_index] = a
        out.append(e)
    return out


@dataclass
class StreamResult:
    """Events of one recording and what produced them.

    Attributes
    ----------
    events : after the dedupe rule. raw_events : before it.
    n_samples, n_frames, n_windows : the recording's counts.
    log_index : (n_windows, L) float32 indices (for reports).
    readout_z : (n_windows, L or S) float32 readout scores (decision ``readout``; else None).
    """

    events: list[Event]
    raw_events: list[Event]
    n_samples: int
    n_frames: int
    n_windows: int
    log_index: np.ndarray
    readout_z: np.ndarray | None = None


def run_stream(
    cfg: StreamConfig, pcm: np.ndarray, decision: str | None = None, top_k: int | None = None
) -> StreamResult:
    """The whole pipeline on int16 PCM; ``decision`` / ``top_k`` override the model's (host only)."""
    method = cfg.decision if decision is None else decision
    params = cfg.detect if top_k is None else dataclasses.replace(cfg.detect, top_k=int(top_k))
    if method == "ur" and params.ur is None:
        raise TinyUnfoldError(
            "this detector has no uncertainty-reduction matrix", "use --method threshold"
        )
    frames = frames_f32(cfg, pcm)  # (N_f, m')
    nw = 0 if len(frames) < cfg.n_frames else 1 + (len(frames) - cfg.n_frames) // cfg.stride
    L = len(cfg.class_names)
    if nw == 0:
        return StreamResult([], [], len(pcm), len(frames), 0, np.zeros((0, L), dtype=F32))
    Hs: list[np.ndarray] = []
    Xs: list[np.ndarray] = []  # the windows X~ (m' x n): the spectrum readout's input
    for w in range(nw):
        X = frames[w * cfg.stride : w * cfg.stride + cfg.n_frames].T
        Xs.append(X)
        if cfg.warm and w > 0:  # window 0: cold (module docstring)
            Hs.append(cfg.forward_f32(cfg.forward, X, h_prev=Hs[-1]))
        else:
            Hs.append(cfg.forward_f32(cfg.forward, X))
    H = np.stack(Hs)
    res = gdetect.detect_f32(H, params, method, np.stack(Xs))
    raw = [
        Event(w, w * cfg.stride * cfg.hop, c, o, s, t)
        for w, hits in enumerate(res.events())
        for c, o, s, t in hits
    ]
    return StreamResult(
        dedupe(raw, cfg.stride, L), raw, len(pcm), len(frames), nw, res.log_index, res.readout_z
    )
