"""The GPU check: one command that prints one table of everything the engine should show on a CUDA device.

Rows (issue 23): parity of the device against CPU float32 on the parity cases (fused and reference attention);
the fp16 and bf16 deltas inside the matte against fp32 on a real clip; seconds per frame at 432x240 and at 1920x1080
(full frame and ``--roi auto``, a small object); peak device memory of a 1280x720 x 80-frame full-frame run (fp32
and fp16: ProPainter's published table says out of memory in fp32, 25 GB in fp16 for its own model); a farm chunk
(``e2fgvi farm render-chunk`` in a child process) equal to the whole in-process run bit for bit; a real server on
the device serving two clients at once, each result equal to the in-process run bit for bit.

Without CUDA, or with ``--smoke``, the same functions run on the CPU at tiny sizes (about a minute): that is what
``tests/benchmarks/test_gpu_check.py`` runs, so the script cannot rot while no GPU is at hand. Parity turns TF32
off (exact float32 arithmetic); the speed rows use PyTorch's defaults, as the engine does. Weights: E2FGVI-HQ with
the deterministic fill (``../shared/parity/fill_weights.py``, seed 1). Run from the project root:

    .venv/bin/python benchmarks/gpu_check.py                 # on a CUDA machine: the full check (< 8 minutes)
    .venv/bin/python benchmarks/gpu_check.py --smoke         # anywhere: the same code at tiny sizes on the CPU

Exit status 1 when a check fails (parity beyond tolerance, a chunk or a served result that differs), 0 otherwise;
a precision the device refuses is a row, not a failure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import PeakMemory, in_hole_difference, load_clip  # benchmarks/speed.py

from e2fgvi_core.testing import SHARED_DIR, write_filled_checkpoint

PARITY_TOLERANCE = 1e-3  # max |device - CPU fp32| on outputs in [-1, 1] (CPU vs golden is 1e-4 in tests/models)
JOB_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Sizes:
    """What each row runs: the full check on a GPU, or the smoke sizes on a CPU."""

    parity_cases: tuple[str, ...]
    clip_frames: int
    clip_size: tuple[int, int]  # (w, h)
    large_size: tuple[int, int]
    large_frames: int
    large_box: int
    memory_size: tuple[int, int]
    memory_frames: int
    shot_size: tuple[int, int]  # (h, w) of the EXR shots for the farm and server rows
    shot_frames: int
    chunk: tuple[int, int]  # frame numbers of the farm chunk inside 1001..


FULL = Sizes(
    parity_cases=("e2fgvi_hq_forward", "e2fgvi_forward"),
    clip_frames=20,
    clip_size=(432, 240),
    large_size=(1920, 1080),
    large_frames=6,
    large_box=60,
    memory_size=(1280, 720),
    memory_frames=80,
    shot_size=(240, 432),
    shot_frames=24,
    chunk=(1009, 1016),
)
SMOKE = Sizes(
    parity_cases=("e2fgvi_hq_forward",),
    clip_frames=2,
    clip_size=(108, 60),
    large_size=(216, 120),
    large_frames=1,
    large_box=12,
    memory_size=(108, 60),
    memory_frames=3,
    shot_size=(48, 64),
    shot_frames=6,
    chunk=(1003, 1004),
)


class Table:
    """Rows of (check, result, numbers); ``failed`` when any result is FAIL."""

    def __init__(self, device) -> None:
        self.device = device
        self.rows: list[tuple[str, str, str]] = []

    def add(self, check: str, result: str, numbers: str) -> None:
        self.rows.append((check, result, numbers))
        print(f"[{time.strftime('%H:%M:%S')}] {check}: {result} {numbers}", flush=True)

    @property
    def failed(self) -> bool:
        return any(result == "FAIL" for _, result, _ in self.rows)

    def print(self, title: str) -> None:
        print(f"\n{title}\n")
        print("| check | result | numbers |")
        print("| --- | --- | --- |")
        for row in self.rows:
            print("| " + " | ".join(row) + " |")


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------------------- rows
def check_parity(table: Table, device, cases: tuple[str, ...]) -> None:
    """Each parity case through ``forward`` on the device and on the CPU, both attention paths, TF32 off."""
    import torch

    from e2fgvi_core.models import build_generator
    from e2fgvi_core.testing import load_fill_weights

    fill = load_fill_weights()
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        for name in cases:
            case = np.load(SHARED_DIR / "parity" / f"{name}.npz")
            variant = "e2fgvi_hq" if name.startswith("e2fgvi_hq") else "e2fgvi"
            frames = torch.from_numpy(case["masked_frames"])
            local = int(case["num_local_frames"])
            for impl in ("fused", "reference"):
                model = build_generator(variant, attention_impl=impl)
                fill(model, int(case["weights_seed"]))
                model.eval()
                with torch.inference_mode():
                    cpu = model(frames, local)[0]
                    if device.type == "cpu":
                        ours = cpu
                    else:
                        ours = model.to(device)(frames.to(device), local)[0].cpu()
                vs_cpu = (ours - cpu).abs().max().item()
                vs_golden = float(np.abs(ours.numpy() - case["output"]).max())
                ok = vs_cpu <= PARITY_TOLERANCE and vs_golden <= PARITY_TOLERANCE
                h, w = frames.shape[-2:]
                versus = "" if device.type == "cpu" else f"max abs vs cpu fp32 {vs_cpu:.2e}, "
                table.add(
                    f"parity {variant} {impl} ({w}x{h} x {frames.shape[1]})",
                    "ok" if ok else "FAIL",
                    f"{versus}max abs vs golden {vs_golden:.2e} (limit {PARITY_TOLERANCE:g})",
                )
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32


def run_engine(frames, mattes, weights: Path, device, precision: str, roi: str) -> tuple[np.ndarray, float]:
    """The shot engine in memory (``run_removal``): (t, h, w, 3) uint8 results and wall seconds (synchronised)."""
    from e2fgvi_core.removal.api import MemorySink, MemorySource, RemovalRequest, run_removal

    request = RemovalRequest.from_mapping(
        {"engine": "e2fgvi_hq", "weights": str(weights), "device": str(device), "roi": roi, "precision": precision}
    )
    sink = MemorySink()
    _sync(device)
    start = time.perf_counter()
    run_removal(
        request,
        source=MemorySource(dict(enumerate(frames))),
        matte_source=MemorySource(dict(enumerate(mattes)), "matte"),
        sink=sink,
    )
    _sync(device)
    return np.stack(list(sink.arrays().values())), time.perf_counter() - start


def check_precisions(table: Table, device, weights: Path, sizes: Sizes) -> None:
    """fp32, bf16 and fp16 on the tennis clip: s/frame and the PSNR of each against fp32 inside the hole."""
    from e2fgvi_core.errors import DeviceError
    from e2fgvi_core.removal.prepare import dilate_hole

    frames, mattes = load_clip("tennis", sizes.clip_frames, sizes.clip_size)
    holes = np.stack([dilate_hole(m > 0) for m in mattes])
    run_engine(frames[:2], mattes[:2], weights, device, "fp32", "full")  # warm-up: kernels, index tables
    where = f"tennis {sizes.clip_size[0]}x{sizes.clip_size[1]} x {len(frames)}"
    fp32 = None
    for precision in ("fp32", "bf16", "fp16"):
        try:
            result, seconds = run_engine(frames, mattes, weights, device, precision, "full")
        except DeviceError as exc:
            table.add(f"{precision} {where}", "refused", str(exc))
            continue
        numbers = f"{seconds / len(frames):.3f} s/frame"
        if fp32 is None:
            fp32 = result
        else:
            d = in_hole_difference(result, fp32, holes)
            numbers += (
                f", in-hole PSNR vs fp32 {d['psnr_in_hole_db']:.1f} dB (max {d['max_level_diff_in_hole']} levels), "
                f"outside the hole max {d['max_level_diff_outside']}"
            )
        table.add(f"{precision} {where}", "ok", numbers)


def check_roi(table: Table, device, weights: Path, sizes: Sizes) -> None:
    """A small object on a large frame: s/frame full frame against ``--roi auto``."""
    from e2fgvi_core.testing import make_synthetic_shot

    w, h = sizes.large_size
    frames, mattes = make_synthetic_shot(sizes.large_frames, h, w, box=sizes.large_box)
    mattes = mattes.astype(np.uint8) * 255
    seconds = {}
    for roi in ("auto", "full"):
        _, took = run_engine(frames, mattes, weights, device, "fp32", roi)
        seconds[roi] = took / len(frames)
    table.add(
        f"fp32 {w}x{h} x {len(frames)}, {sizes.large_box} px object",
        "ok",
        f"full frame {seconds['full']:.3f} s/frame, --roi auto {seconds['auto']:.3f} s/frame "
        f"({seconds['full'] / seconds['auto']:.1f}x)",
    )


def check_memory(table: Table, device, weights: Path, sizes: Sizes) -> None:
    """Peak memory of a full-frame run (device memory on CUDA, resident set on the CPU), fp32 and fp16."""
    from e2fgvi_core.errors import DeviceError
    from e2fgvi_core.testing import make_synthetic_shot

    w, h = sizes.memory_size
    frames, mattes = make_synthetic_shot(sizes.memory_frames, h, w, box=max(8, h // 4))
    mattes = mattes.astype(np.uint8) * 255
    for precision in ("fp32", "fp16"):
        check = f"peak memory {precision} {w}x{h} x {len(frames)}, --roi full"
        try:
            with PeakMemory(device) as memory:
                _, seconds = run_engine(frames, mattes, weights, device, precision, "full")
        except DeviceError as exc:
            table.add(check, "refused", str(exc))
            continue
        peak = memory.peak_device if memory.peak_device is not None else memory.peak_rss
        kind = "device" if memory.peak_device is not None else "process RSS"
        table.add(check, "ok", f"{peak / 2**30:.2f} GiB {kind}, {seconds / len(frames):.3f} s/frame")


def check_farm_chunk(table: Table, device, weights: Path, sizes: Sizes, folder: Path) -> None:
    """``e2fgvi farm render-chunk`` of a few frames (a child process, as a farm task) against the whole run."""
    from e2fgvi_core.io import read_frame
    from e2fgvi_core.removal.api import RemovalRequest, run_removal
    from e2fgvi_core.testing import make_shot, run_python

    shot = make_shot(folder / "farm-shot", frames=sizes.shot_frames, size=sizes.shot_size)
    settings = {"engine": "e2fgvi_hq", "weights": str(weights), "device": str(device)}
    whole = str(folder / "farm-whole" / "clean.%04d.exr")
    run_removal(RemovalRequest.from_mapping({**shot, **settings, "out": whole}))
    first, last = sizes.chunk
    out = str(folder / "farm-chunk" / "clean.%04d.exr")
    args = ["--plate", shot["plate"], "--matte", shot["matte"], "--out", out, "--engine", "e2fgvi_hq"]
    args += ["--weights", str(weights), "--device", str(device), "--shot", shot["frames"], "--frames"]
    done = run_python(["-m", "e2fgvi_core.cli.main", "farm", "render-chunk", *args, f"{first}-{last}", "--quiet"], 600)
    check = f"farm chunk {first}-{last} of {shot['frames']} ({sizes.shot_size[1]}x{sizes.shot_size[0]})"
    if done.returncode != 0:
        table.add(check, "FAIL", f"render-chunk exited {done.returncode}: {(done.stderr or done.stdout)[-300:]}")
        return
    same = [np.array_equal(read_frame(out % n).pixels, read_frame(whole % n).pixels) for n in range(first, last + 1)]
    table.add(check, "ok" if all(same) else "FAIL", f"{sum(same)}/{len(same)} frames equal the whole run bit for bit")


def check_server(table: Table, device, weights: Path, sizes: Sizes, folder: Path) -> None:
    """A real ``e2fgvi-server --device DEVICE`` and two clients submitting at once; results against in-process."""
    from e2fgvi_core.io import read_frame
    from e2fgvi_core.removal.api import RemovalRequest, run_removal
    from e2fgvi_core.testing import ServerProcess, free_port, make_shot
    from e2fgvi_host.client import Client

    roots = folder / "server-roots"
    shots = [make_shot(roots / f"shot{i}", frames=sizes.shot_frames, size=sizes.shot_size, seed=i) for i in range(2)]
    settings = {"engine": "e2fgvi_hq", "weights": str(weights)}
    expected = []
    for i, shot in enumerate(shots):
        out = str(folder / f"server-expected{i}" / "clean.%04d.exr")
        run_removal(RemovalRequest.from_mapping({**shot, **settings, "device": str(device), "out": out}))
        expected.append(out)
    address = f"tcp://127.0.0.1:{free_port()}"
    # generous heartbeats: a server busy loading the model on a loaded machine is slow, not gone
    args = ["--heartbeat-interval-s", "2", "--output-root", str(roots), "--device", str(device)]
    server = ServerProcess(address, args, folder / "server.log")
    results: dict[int, object] = {}
    errors: list[str] = []

    def client(i: int) -> None:
        try:
            with Client(address, heartbeat_interval_s=2.0, retries=100) as c:
                out = str(roots / f"served{i}" / "clean.%04d.exr")
                results[i] = c.submit({**shots[i], **settings, "out": out}).wait(JOB_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - reported in the table
            errors.append(f"client {i}: {exc}")

    start = time.perf_counter()
    try:
        server.start()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOB_TIMEOUT_S * 2)
        alive = server.alive()
    finally:
        server.kill()
    seconds = time.perf_counter() - start
    check = f"server on {device}, two clients ({sizes.shot_frames} frames each)"
    if errors or len(results) != 2 or not alive:
        table.add(check, "FAIL", "; ".join(errors) or f"server alive {alive}; log: {server.log()[-300:]}")
        return
    equal = total = 0
    for i, result in results.items():
        for number, frame in result.frames.items():
            total += 1
            equal += np.array_equal(read_frame(frame.path).pixels, read_frame(expected[i] % number).pixels)
    ok = total == 2 * sizes.shot_frames and equal == total
    table.add(check, "ok" if ok else "FAIL", f"{equal}/{total} frames equal the in-process run, {seconds:.1f} s")


# ------------------------------------------------------------------------------------------------------- main
CHECKS = ("parity", "precision", "roi", "memory", "farm", "server")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (the default without CUDA)")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu (smoke)")
    parser.add_argument("--checks", default=",".join(CHECKS), help=f"comma list of {', '.join(CHECKS)}")
    args = parser.parse_args(argv)
    import torch

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    smoke = args.smoke or device.type == "cpu"
    if smoke and device.type == "cpu":
        torch.set_num_threads(1)  # like the child processes (testing.subprocess_env): identical CPU arithmetic
    sizes = SMOKE if smoke else FULL
    checks = [c.strip() for c in args.checks.split(",") if c.strip()]
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        raise SystemExit(f"gpu check: unknown check {unknown[0]!r}; checks: {', '.join(CHECKS)}")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    title = f"gpu_check on {device} ({name}), torch {torch.__version__}, {'smoke sizes' if smoke else 'full sizes'}"
    print(title, flush=True)
    table = Table(device)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="e2fgvi-gpu-check-") as tmp:
        folder = Path(tmp)
        weights = write_filled_checkpoint(folder / "hq.pth", seed=1)
        rows = {
            "parity": lambda: check_parity(table, device, sizes.parity_cases),
            "precision": lambda: check_precisions(table, device, weights, sizes),
            "roi": lambda: check_roi(table, device, weights, sizes),
            "memory": lambda: check_memory(table, device, weights, sizes),
            "farm": lambda: check_farm_chunk(table, device, weights, sizes, folder),
            "server": lambda: check_server(table, device, weights, sizes, folder),
        }
        for check in checks:
            rows[check]()
    table.print(f"{title}, {time.perf_counter() - start:.0f} s")
    return 1 if table.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
