"""Seconds per output frame of a real shot in several modes measured in the same run, with a stage breakdown.

Why one run: the development machine's cores are shared, so absolute seconds drift by 2x between runs; the ratio of
two modes measured minutes apart in one process is what to read (repeat the run to see the spread).

Modes (``--modes``, comma-separated):

* ``reference``: the official ``test.py`` cost structure with every optimisation off: one whole
  ``model(masked, num_local)`` per window (every frame re-encoded in every window, flows recomputed, reference
  frames decoded and thrown away), the plain explicit-softmax window attention (``attention_impl="reference"``),
  float32; composited and blended as ``test.py`` does;
* ``fast_fp32``: the shot engine (``run_removal``, ``--roi full``): encoder features once per frame and flows once
  per pair (cache), the fused chunked attention, local frames decoded one at a time, float32;
* ``fast_bf16``: the same with ``precision="bf16"`` (CPUs with AVX-512 BF16/AMX, CUDA GPUs from Ampere);
* ``fast_fp16``: the same with ``precision="fp16"`` (CUDA only).

Roofline: before the modes, the machine's own peak at the model's shapes (``measure_peak``: fp32, and bf16/fp16
when such a mode runs); during each mode every stage's FLOPs (``torch.utils.flop_counter``); at the end, per mode
and stage, seconds, share, GFLOP, GFLOP/s and percent of the peak for the mode's precision. With ``--threads 1`` on
the CPU the clock is the main thread's CPU time (``--clock``): it holds on a loaded machine, wall clock does not.
A reduced-precision mode is also compared with ``fast_fp32`` inside the hole (the quality delta).

A mode the device cannot run natively is reported as refused with the engine's reason; ``--emulated-bf16`` runs
``fast_bf16`` anyway on a CPU without native bf16 (same arithmetic, so the same quality delta; not the speed).
``--probe-bf16`` measures
what bf16 does on this machine anyway: one generator forward of the shot's first window under
``torch.autocast(bfloat16)`` against float32, seconds and the PSNR of the bf16 prediction against the fp32 one
inside the hole (the engine refuses emulated bf16; the probe is how that decision was measured).

Default shot: the shared tennis clip (``../shared/footage``, 70 frames, 432x240), E2FGVI-HQ with deterministic
weights (``../shared/parity/fill_weights.py``, seed 1). Run from the project root:

    .venv/bin/python benchmarks/speed.py                                   # 70 frames, reference + fast_fp32
    .venv/bin/python benchmarks/speed.py --frames 6 --threads 1 --modes reference,fast_fp32   # quick roofline
    .venv/bin/python benchmarks/speed.py --frames 20 --probe-bf16 --json /tmp/speed.json
    .venv/bin/python benchmarks/speed.py --modes "" --probe-bf16-kernels --threads 1   # kernels only
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from e2fgvi_core.testing import SHARED_DIR, write_filled_checkpoint

MODES = ("reference", "fast_fp32", "fast_bf16", "fast_fp16")
STAGES = ("flows", "encoder", "propagation", "soft split", "transformer", "soft composition", "decoder")
_STAGE_OF = {
    "complete_flows": "flows",
    "flow_inputs": "flows",
    "estimate_flows": "flows",
    "encode": "encoder",
    "propagate": "propagation",
    "split_tokens": "soft split",
    "transform_tokens": "transformer",
    "compose_tokens": "soft composition",
    "decode": "decoder",
}


# ------------------------------------------------------------------------------------------------ measurement
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
_clock = time.perf_counter  # main() picks it: the main thread's CPU time with one torch thread, else wall clock


def now() -> float:
    """The benchmark's clock: with one torch thread all compute runs on the calling thread, and its CPU time holds
    on a loaded machine where wall clock does not (a descheduled thread's wait is not counted)."""
    return _clock()


class StageTimer:
    """Wraps a generator's stage methods on the instance and sums their wall time and their FLOPs
    (``torch.utils.flop_counter``: matmuls, convolutions, SDPA; elementwise work, gathers and ``grid_sample`` count
    zero) by stage (outermost call only: ``complete_flows`` calls ``estimate_flows``, ``hallucinate`` the three
    token stages). FLOPs only when ``count_flops``: the counter is a dispatch mode (a Python call per aten op) that
    measured up to ~12 % slower on the transformer, so ``main`` counts in a separate, untimed pass."""

    def __init__(self, model, device, count_flops: bool = False) -> None:
        self.count_flops = count_flops
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.flops = dict.fromkeys(STAGES, 0)
        self._depth = 0
        self._sync = _synchronizer(device)
        for method, stage in _STAGE_OF.items():
            setattr(model, method, self._wrap(getattr(model, method), stage))

    def _wrap(self, fn, stage: str):
        def timed(*args, **kwargs):
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            self._sync()
            start = now()
            counter = flop_counter() if self.count_flops else contextlib.nullcontext()
            try:
                with counter:
                    return fn(*args, **kwargs)
            finally:
                self._sync()
                self.seconds[stage] += now() - start
                if self.count_flops:
                    self.flops[stage] += counter.get_total_flops()
                self._depth -= 1

        return timed

    def take(self) -> tuple[dict[str, float], dict[str, int]]:
        taken = (self.seconds, self.flops)
        self.seconds, self.flops = dict.fromkeys(STAGES, 0.0), dict.fromkeys(STAGES, 0)
        return taken


def flop_counter():
    """``FlopCounterMode`` that also counts the CPU's fused SDPA kernel (not in torch's table): as many FLOPs as
    the two batched matmuls it replaces."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:  # shapes, not tensors
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    aten = torch.ops.aten
    names = ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_fused_attention_overrideable")
    extra = {getattr(aten, name): sdpa for name in names if hasattr(aten, name)}
    return FlopCounterMode(display=False, custom_mapping=extra)


class PeakMemory:
    """Peak resident set (sampled every 10 ms) and, on CUDA, peak allocated device memory while the block runs."""

    def __init__(self, device) -> None:
        self.device = device
        self.peak_rss = 0
        self.peak_device = None
        self._stop = threading.Event()

    def _sample(self) -> None:
        import psutil

        process = psutil.Process()
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, process.memory_info().rss)
            self._stop.wait(0.01)

    def __enter__(self):  # -> the PeakMemory itself
        import torch

        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import torch

        self._stop.set()
        self._thread.join()
        if self.device.type == "cuda":
            self.peak_device = torch.cuda.max_memory_allocated(self.device)


def _synchronizer(device):
    import torch

    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


# ----------------------------------------------------------------------------------------------------- inputs
def load_clip(clip: str, frames: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(t, h, w, 3) uint8 RGB frames and (t, h, w) uint8 {0, 255} mattes of a shared clip, resized to ``size``."""
    folder = SHARED_DIR / "footage" / clip
    names = sorted((folder / "frames").glob("*.png"))[:frames]
    if not names:
        raise SystemExit(f"speed benchmark: no frames in {folder / 'frames'} (see ../shared/footage/README.md)")
    width, height = size
    rgb, mattes = [], []
    for name in names:
        image = cv2.cvtColor(cv2.imread(str(name), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        matte = cv2.imread(str(folder / "masks" / name.name), cv2.IMREAD_UNCHANGED)
        matte = (matte.reshape(*matte.shape[:2], -1).max(axis=-1) > 0).astype(np.uint8) * 255
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
            matte = cv2.resize(matte, (width, height), interpolation=cv2.INTER_NEAREST)
        rgb.append(image)
        mattes.append(matte)
    return np.stack(rgb), np.stack(mattes)


# ------------------------------------------------------------------------------------------------------ modes
def run_reference(frames, mattes, weights: Path, device, count_flops: bool = False) -> tuple[np.ndarray, object]:
    """test.py's loop with the plain attention: one whole forward per window, composite, running 0.5 blend."""
    import torch

    from e2fgvi_core.models import build_generator
    from e2fgvi_core.models._checkpoint import load_checkpoint
    from e2fgvi_core.removal.config import EngineConfig
    from e2fgvi_core.removal.plan import plan_shot
    from e2fgvi_core.removal.prepare import dilate_hole, symmetric_pad

    _, state = load_checkpoint(str(weights))
    model = build_generator("e2fgvi_hq", attention_impl="reference")
    model.load_state_dict(state, strict=True)
    model.eval().to(device)
    timer = StageTimer(model, device, count_flops)
    t, h, w = mattes.shape
    holes = np.stack([dilate_hole(m > 0) for m in mattes])
    imgs = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255) * 2 - 1
    masks = torch.from_numpy(holes.astype(np.float32))[:, None]
    comp: list[np.ndarray | None] = [None] * t
    with torch.inference_mode():
        for window in plan_shot(t, EngineConfig()).windows:
            ids = list(window.inputs)
            masked = (imgs[ids] * (1 - masks[ids])).permute(0, 2, 3, 1).numpy()
            padded = np.stack([symmetric_pad(m, (60, 108)) for m in masked])
            masked = torch.from_numpy(padded).permute(0, 3, 1, 2)[None].to(device)
            pred, _ = model(masked, len(window.local))
            pred = ((pred[:, :, :h, :w] + 1) / 2).permute(0, 2, 3, 1).cpu().numpy() * 255
            for i, idx in enumerate(window.local):
                bm = holes[idx][..., None].astype(np.uint8)
                img = pred[i].astype(np.uint8) * bm + frames[idx] * (1 - bm)
                if comp[idx] is None:
                    comp[idx] = img
                else:
                    comp[idx] = comp[idx].astype(np.float32) * 0.5 + img.astype(np.float32) * 0.5
    return np.stack([c.astype(np.uint8) for c in comp]), timer


def run_fast(frames, mattes, weights: Path, device, precision: str) -> np.ndarray:
    from e2fgvi_core.removal.api import MemorySink, MemorySource, RemovalRequest, run_removal

    request = RemovalRequest.from_mapping(
        {"engine": "e2fgvi_hq", "weights": str(weights), "device": str(device), "roi": "full", "precision": precision}
    )
    sink = MemorySink()
    run_removal(
        request,
        source=MemorySource(dict(enumerate(frames))),
        matte_source=MemorySource(dict(enumerate(mattes)), "matte"),
        sink=sink,
    )
    return np.stack(list(sink.arrays().values()))


def in_hole_difference(ours: np.ndarray, reference: np.ndarray, holes: np.ndarray) -> dict[str, float]:
    """How far two uint8 results are apart: max level difference in and outside the hole, share of in-hole values
    that differ, and the PSNR of ``ours`` against ``reference`` inside the hole."""
    from e2fgvi_core.metrics import psnr

    diff = np.abs(ours.astype(np.int16) - reference.astype(np.int16))
    inside = np.broadcast_to(holes[..., None], diff.shape)
    width, channels = ours.shape[-2], ours.shape[-1]  # frames stacked as rows: one (t*h, w) image for psnr
    return {
        "max_level_diff_in_hole": int(diff[inside].max()),
        "max_level_diff_outside": int(diff[~inside].max()),
        "share_in_hole_differing": float(np.mean(diff[inside] > 0)),
        "psnr_in_hole_db": psnr(
            reference.reshape(-1, width, channels), ours.reshape(-1, width, channels), 255.0, holes.reshape(-1, width)
        ),
    }


def probe_bf16(frames, mattes, weights: Path, device) -> dict[str, float]:
    """One generator forward of the first window in fp32 and under bf16 autocast: seconds and in-hole PSNR."""
    import torch

    from e2fgvi_core.models import build_generator
    from e2fgvi_core.models._checkpoint import load_checkpoint
    from e2fgvi_core.removal.config import EngineConfig
    from e2fgvi_core.removal.plan import plan_shot
    from e2fgvi_core.removal.prepare import dilate_hole

    _, state = load_checkpoint(str(weights))
    model = build_generator("e2fgvi_hq")
    model.load_state_dict(state, strict=True)
    model.eval().to(device)
    window = plan_shot(len(frames), EngineConfig()).windows[0]
    ids = list(window.inputs)
    holes = np.stack([dilate_hole(m > 0) for m in mattes[ids]])
    imgs = torch.from_numpy(frames[ids]).permute(0, 3, 1, 2).float().div(255) * 2 - 1
    masked = (imgs * (1 - torch.from_numpy(holes.astype(np.float32))[:, None]))[None].to(device)
    result: dict[str, float] = {"window_frames": len(ids)}
    preds = {}
    with torch.inference_mode():
        for name, context in (
            ("fp32", None),
            ("bf16", torch.autocast(device_type=device.type, dtype=torch.bfloat16)),
        ):
            sync = _synchronizer(device)
            sync()
            start = time.perf_counter()
            if context is None:
                pred, _ = model(masked, len(window.local))
            else:
                with context:
                    pred, _ = model(masked, len(window.local))
            sync()
            result[f"{name}_s"] = time.perf_counter() - start
            preds[name] = ((pred.float()[: len(window.local)] + 1) / 2).clamp(0, 1).cpu().numpy()
    hole = np.broadcast_to(holes[: len(window.local), None], preds["fp32"].shape)
    mse = float(np.mean((preds["bf16"][hole] - preds["fp32"][hole]) ** 2))
    result["bf16_psnr_in_hole_db"] = 10 * np.log10(1.0 / mse) if mse else float("inf")
    result["bf16_over_fp32"] = result["bf16_s"] / result["fp32_s"]
    return result


def probe_bf16_kernels() -> list[dict[str, float]]:
    """The three kernels the generator is made of, in fp32 and bf16, twice each: a 1024^3 matmul, a 128->128 3x3
    convolution on a 60x108 map, and an SDPA the size of one 12-frame window's attention. Why: where bf16 is
    emulated (no AVX-512 BF16/AMX) a whole bf16 forward takes too long to time; the kernels show why."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    x, w = torch.randn(1, 128, 60, 108), torch.randn(128, 128, 3, 3)
    q, k = torch.randn(16, 4, 540, 128), torch.randn(16, 4, 2520, 128)
    rows = []
    for _ in range(2):
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            aa, bb, xx, ww, qq, kk = (t.to(dtype) for t in (a, b, x, w, q, k))
            t0 = time.perf_counter()
            aa @ bb
            t1 = time.perf_counter()
            F.conv2d(xx, ww, padding=1)
            t2 = time.perf_counter()
            F.scaled_dot_product_attention(qq, kk, kk)
            t3 = time.perf_counter()
            rows.append({"dtype": name, "matmul_s": t1 - t0, "conv_s": t2 - t1, "sdpa_s": t3 - t2})
            print(
                f"bf16 kernel probe {name}: matmul 1024^3 {t1 - t0:.3f} s, conv 128->128 3x3 on 60x108 "
                f"{t2 - t1:.3f} s, SDPA (16, 4, 540 x 2520, 128) {t3 - t2:.3f} s",
                flush=True,
            )
    return rows


# ------------------------------------------------------------------------------------------------------- peak
# The model's dense kernels at 432x240 (60x108 feature maps, a 20x36 token grid, 512-wide tokens): the transformer's
# qkv projection (rows: one frame's 720 tokens x 3), the F3N's first linear, the deformable convolution's matmul
# (128 x 2304 weights over 6480 columns) and a 128->128 3x3 convolution (encoder, decoder, propagation), the
# convolution also in channels_last.
PEAK_KERNELS = (
    "linear 2160x512->1536",
    "linear 720x512->1960",
    "matmul 128x2304x6480",
    "conv3x3 128 60x108",
    "conv3x3 128 60x108 CL",
)


def measure_peak(dtypes=("fp32", "bf16"), budget_s: float = 1.0) -> dict[str, dict[str, float]]:
    """GFLOP/s of each ``PEAK_KERNELS`` entry per dtype, best of a few calls within ``budget_s``: the machine's own
    limit at the model's shapes, with the threads the run uses. ``peak`` per dtype is the best kernel."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    result: dict[str, dict[str, float]] = {}
    for name in dtypes:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
        x1, w1 = torch.randn(2160, 512, dtype=dtype), torch.randn(1536, 512, dtype=dtype)
        x2, w2 = torch.randn(720, 512, dtype=dtype), torch.randn(1960, 512, dtype=dtype)
        wm, cols = torch.randn(128, 2304, dtype=dtype), torch.randn(2304, 6480, dtype=dtype)
        xc, wc = torch.randn(1, 128, 60, 108, dtype=dtype), torch.randn(128, 128, 3, 3, dtype=dtype)
        xcl = xc.contiguous(memory_format=torch.channels_last)
        conv_flops = 2 * 128 * 128 * 9 * 60 * 108
        conv = functools.partial(F.conv2d, padding=1)
        kernels = {
            PEAK_KERNELS[0]: (F.linear, (x1, w1), 2 * 2160 * 512 * 1536),
            PEAK_KERNELS[1]: (F.linear, (x2, w2), 2 * 720 * 512 * 1960),
            PEAK_KERNELS[2]: (torch.matmul, (wm, cols), 2 * 128 * 2304 * 6480),
            PEAK_KERNELS[3]: (conv, (xc, wc), conv_flops),
            PEAK_KERNELS[4]: (conv, (xcl, wc), conv_flops),
        }
        rates = {}
        with torch.inference_mode():
            for kernel, (fn, inputs, flops) in kernels.items():
                fn(*inputs)  # warm-up: oneDNN primitive creation
                best, spent = float("inf"), 0.0
                for _ in range(5):
                    start = now()
                    fn(*inputs)
                    took = now() - start
                    best, spent = min(best, took), spent + took
                    if spent > budget_s:
                        break
                rates[kernel] = flops / best / 1e9
        rates["peak"] = max(rates.values())
        result[name] = rates
        print(f"peak {name}: " + ", ".join(f"{k} {v:.1f}" for k, v in rates.items()) + " GFLOP/s", flush=True)
    return result


# ------------------------------------------------------------------------------------------------------- main
def machine() -> dict[str, object]:
    import torch

    from e2fgvi_core.models.precision import cpu_native_bf16

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_native_bf16": cpu_native_bf16(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_before": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", default="tennis", help="clip of ../shared/footage (tennis, schoolgirls)")
    parser.add_argument("--frames", type=int, default=70)
    parser.add_argument("--size", default="432x240", help="processing size WxH (frames are resized to it)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (0: torch's default, one per physical core)"
    )
    parser.add_argument("--modes", default="reference,fast_fp32,fast_bf16,fast_fp16")
    parser.add_argument("--probe-bf16", action="store_true", help="time one window under bf16 autocast anyway")
    parser.add_argument("--probe-bf16-kernels", action="store_true", help="time matmul/conv/SDPA in fp32 vs bf16")
    parser.add_argument(
        "--clock",
        choices=("auto", *CLOCKS),
        default="auto",
        help="auto: the main thread's CPU time with --threads 1 (robust under load), wall clock otherwise",
    )
    parser.add_argument("--no-peak", action="store_true", help="skip the peak measurement (no %% of peak)")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP-counting pass (no roofline)")
    parser.add_argument(
        "--emulated-bf16",
        action="store_true",
        help="run fast_bf16 even on a CPU without native bf16 (oneDNN's emulation: the same arithmetic, so its "
        "quality delta is the native one; its speed is not)",
    )
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    import torch

    from e2fgvi_core.errors import DeviceError
    from e2fgvi_core.removal.engines import load_model
    from e2fgvi_core.removal.prepare import dilate_hole

    global _clock
    if args.threads:
        torch.set_num_threads(args.threads)
    on_cpu = torch.device(args.device).type == "cpu"
    clock = args.clock if args.clock != "auto" else ("cpu" if on_cpu and torch.get_num_threads() == 1 else "wall")
    if clock == "cpu" and not (on_cpu and torch.get_num_threads() == 1):
        raise SystemExit("speed benchmark: --clock cpu needs --device cpu --threads 1 (only this thread is timed)")
    _clock = CLOCKS[clock]
    machine_info = machine()  # before --emulated-bf16 below: the CPU's own answer
    if args.emulated_bf16:  # the engine refuses emulated bf16 (too slow to offer); this run measures it anyway
        from e2fgvi_core.models import precision as precision_module

        precision_module.cpu_native_bf16 = lambda: True
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise SystemExit(f"speed benchmark: unknown mode {unknown[0]!r}; modes: {', '.join(MODES)}")
    size = tuple(int(v) for v in args.size.lower().split("x"))
    device = torch.device(args.device)
    frames, mattes = load_clip(args.clip, args.frames, size)
    holes = np.stack([dilate_hole(m > 0) for m in mattes])
    report: dict[str, object] = {
        "command": "benchmarks/speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "clock": clock,
        "machine": machine_info,
        "shot": {"clip": args.clip, "frames": len(frames), "size": list(size), "hole_share": float(holes.mean())},
        "modes": {},
    }
    if args.probe_bf16_kernels:
        report["bf16_kernels"] = probe_bf16_kernels()
    if not args.no_peak:
        wanted = {"fp32"} | {m.split("_")[-1] for m in modes if m in ("fast_bf16", "fast_fp16")}
        report["peak_gflops"] = measure_peak(tuple(d for d in ("fp32", "bf16", "fp16") if d in wanted))
    with tempfile.TemporaryDirectory() as tmp:
        weights = write_filled_checkpoint(Path(tmp) / "bench_e2fgvi_hq.pth", seed=1)
        model, _ = load_model(str(weights), "e2fgvi_hq", device)  # the instance the engine will use
        timer = StageTimer(model, device)
        if any(m != "reference" for m in modes):  # warm-up (kernel selection, index tables), not counted
            run_fast(frames[:6], mattes[:6], weights, device, "fp32")
            timer.take()
        reference = fp32_result = None
        for mode in modes:
            precision = mode.split("_")[-1]
            with PeakMemory(device) as memory:
                start = now()
                try:
                    if mode == "reference":
                        result, ref_timer = run_reference(frames, mattes, weights, device)
                        stages, flops = ref_timer.take()
                    else:
                        result = run_fast(frames, mattes, weights, device, precision)
                        stages, flops = timer.take()
                except DeviceError as exc:
                    report["modes"][mode] = {"refused": str(exc)}
                    print(f"{mode:10s} refused: {exc}", flush=True)
                    continue
                seconds = now() - start
            if not args.no_flops:  # an untimed second pass (the counter slows what it counts)
                if mode in ("fast_bf16", "fast_fp16") and "fast_fp32" in report["modes"]:
                    flops = dict(report["modes"]["fast_fp32"]["stages_flops"])  # the same ops at the same shapes
                elif mode == "reference":
                    flops = run_reference(frames, mattes, weights, device, count_flops=True)[1].take()[1]
                else:
                    timer.count_flops = True
                    run_fast(frames, mattes, weights, device, precision)
                    flops = timer.take()[1]
                    timer.count_flops = False
            entry = {
                "seconds": seconds,
                "s_per_frame": seconds / len(frames),
                "stages_s": stages,
                "stages_flops": flops,
                "peak_rss_gib": memory.peak_rss / 2**30,
                "peak_device_gib": None if memory.peak_device is None else memory.peak_device / 2**30,
            }
            if mode == "reference":
                reference = result
            elif reference is not None:
                entry["vs_reference"] = in_hole_difference(result, reference, holes)
            if mode == "fast_fp32":
                fp32_result = result
            elif mode in ("fast_bf16", "fast_fp16") and fp32_result is not None:
                entry["vs_fast_fp32"] = in_hole_difference(result, fp32_result, holes)
            report["modes"][mode] = entry
            stage_text = ", ".join(f"{k} {v / len(frames):.3f}" for k, v in stages.items())
            print(
                f"{mode:10s} {seconds:8.1f} s  {seconds / len(frames):6.3f} s/frame  peak RSS "
                f"{entry['peak_rss_gib']:.2f} GiB  (s/frame by stage: {stage_text})",
                flush=True,
            )
            if args.json:  # written after every mode: a long run cut short keeps what it measured
                args.json.write_text(json.dumps(report, indent=1))
        if args.probe_bf16:
            report["bf16_probe"] = probe_bf16(frames, mattes, weights, device)
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def _print(report: dict) -> None:
    m, shot = report["machine"], report["shot"]
    print(f"\n{report['command']}  (clock: {report['clock']})")
    print(
        f"machine: {m['cpu']}, {m['cpu_count']} CPUs ({m['cpu_capability']}, native bf16: {m['cpu_native_bf16']}), "
        f"torch {m['torch']}, {m['threads']} threads, cuda: {m['cuda']}, load before {m['load_average_before']:.1f}"
    )
    print(
        f"shot: {shot['clip']}, {shot['frames']} frames {shot['size'][0]}x{shot['size'][1]}, "
        f"{100 * shot['hole_share']:.1f} % hole (dilated)"
    )
    ran = {k: v for k, v in report["modes"].items() if "seconds" in v}
    base = ran.get("reference", {}).get("s_per_frame")
    print(
        f"{'mode':10s} {'s/frame':>8s} {'speed-up':>8s} {'peak RSS':>9s} {'device':>7s}  "
        + " ".join(f"{s:>11s}" for s in STAGES)
    )
    for mode, v in ran.items():
        speedup = f"{base / v['s_per_frame']:7.2f}x" if base else "       -"
        dev = "-" if v["peak_device_gib"] is None else f"{v['peak_device_gib']:.2f}"
        stages = " ".join(f"{v['stages_s'][s] / report['shot']['frames']:11.3f}" for s in STAGES)
        print(f"{mode:10s} {v['s_per_frame']:8.3f} {speedup} {v['peak_rss_gib']:8.2f}G {dev:>7s}  {stages}")
    print("(stage columns: seconds per output frame)")
    _print_roofline(report, ran)
    for mode, v in ran.items():
        if "vs_reference" in v:
            d = v["vs_reference"]
            print(
                f"{mode} vs reference: in-hole max {d['max_level_diff_in_hole']} levels on "
                f"{100 * d['share_in_hole_differing']:.3f} % of in-hole values (PSNR {d['psnr_in_hole_db']:.1f} dB), "
                f"outside the hole max {d['max_level_diff_outside']}"
            )
    for mode, v in ran.items():
        if "vs_fast_fp32" in v:
            d = v["vs_fast_fp32"]
            print(
                f"{mode} vs fast_fp32: in-hole PSNR {d['psnr_in_hole_db']:.1f} dB, max {d['max_level_diff_in_hole']} "
                f"levels, {100 * d['share_in_hole_differing']:.2f} % of in-hole values differ; outside the hole max "
                f"{d['max_level_diff_outside']}"
            )
    for mode, v in report["modes"].items():
        if "refused" in v:
            print(f"{mode}: refused: {v['refused']}")
    if "bf16_probe" in report:
        p = report["bf16_probe"]
        print(
            f"bf16 probe (one {p['window_frames']}-frame window forward, autocast): fp32 {p['fp32_s']:.2f} s, "
            f"bf16 {p['bf16_s']:.2f} s ({p['bf16_over_fp32']:.2f}x the fp32 time), in-hole PSNR bf16 vs fp32 "
            f"{p['bf16_psnr_in_hole_db']:.1f} dB"
        )


def _print_roofline(report: dict, ran: dict) -> None:
    """Per mode and stage: seconds, share of the mode's time, GFLOP, achieved GFLOP/s and percent of the measured
    peak for the mode's precision (the dense kernels' best at the model's shapes)."""
    peaks = report.get("peak_gflops", {})
    peak_text = ", ".join(f"{k} {v['peak']:.1f}" for k, v in peaks.items()) or "not measured"
    print(f"\nroofline ({report['shot']['frames']} frames; peak GFLOP/s: {peak_text})")
    print(f"{'mode':10s} {'stage':17s} {'seconds':>9s} {'share':>6s} {'GFLOP':>9s} {'GFLOP/s':>8s} {'% peak':>7s}")
    for mode, v in ran.items():
        precision = "fp32" if mode == "reference" else mode.split("_")[-1]
        total_s = sum(v["stages_s"].values())
        rows = [(s, v["stages_s"][s], v.get("stages_flops", {}).get(s, 0)) for s in STAGES]
        rows.append(("all stages", total_s, sum(f for _, _, f in rows)))
        for stage, seconds, flops in rows:
            rate = flops / seconds / 1e9 if seconds else 0.0
            peak = peaks.get("fp32" if stage == "flows" else precision, {}).get("peak")  # flows stay float32
            share = f"{100 * seconds / total_s:5.1f}%" if total_s else "-"
            of_peak = f"{100 * rate / peak:6.1f}%" if peak else "      -"
            print(f"{mode:10s} {stage:17s} {seconds:9.2f} {share:>6s} {flops / 1e9:9.1f} {rate:8.1f} {of_peak}")


if __name__ == "__main__":
    raise SystemExit(main())
