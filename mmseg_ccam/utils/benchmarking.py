"""Timing and memory helpers of the benchmark scripts (``tools/analysis_tools/benchmark*.py``).

Everything here measures; nothing asserts a speed. Times are wall-clock milliseconds with the
device synchronised around each timed call; the parts of a model call are read from the
:func:`torch.profiler.record_function` ranges the model marks (names ``ccam:<part>``, see
``docs/method.md``, section "Semi-supervised step"), so the model is measured as it runs.
"""
import ctypes
import datetime
import gc
import os
import platform
import resource
import statistics
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

#: Prefix of the record_function ranges this package's models and hooks mark.
RANGE_PREFIX = 'ccam:'


def synchronizer(device: str) -> Callable[[], None]:
    """``torch.cuda.synchronize`` for a CUDA device, else a no-op."""
    if str(device).startswith('cuda'):
        return torch.cuda.synchronize
    return lambda: None


def time_calls(fn: Callable[[], object], warmup: int, repeat: int,
               sync: Callable[[], None]) -> List[float]:
    """Milliseconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed ones (synchronised
    before and after each timed call)."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def time_interleaved(calls: Dict[str, Callable[[], object]], repeat: int,
                     sync: Callable[[], None]) -> Dict[str, float]:
    """Median ms per callable, timed round-robin (``repeat`` rounds, one call of each per
    round), so that a change of the machine's load affects all of them alike."""
    times: Dict[str, List[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            times[name] += time_calls(fn, 0, 1, sync)
    return {name: float(statistics.median(t)) for name, t in times.items()}


def profile_ranges(fn: Callable[[], object], device: str,
                   prefix: str = RANGE_PREFIX) -> Tuple[float, Dict[str, float]]:
    """Run ``fn`` once under :mod:`torch.profiler`; its wall time and the time in each range.

    Args:
        fn (callable): The call to measure.
        device (str): Its device; on CUDA the range times are the device time of the kernels
            launched inside each range (the CPU side of a range returns before they finish).
        prefix (str): Only ranges whose name starts with it are returned.

    Returns:
        tuple[float, dict[str, float]]: Wall ms of the whole call (synchronised, profiler
        overhead included) and ``{range name: ms}`` summed over the range's occurrences
        (nested ranges are counted in their parent too).
    """
    from torch.profiler import ProfilerActivity, profile
    cuda = str(device).startswith('cuda')
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    sync = synchronizer(device)
    sync()
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        fn()
        sync()
        wall_ms = (time.perf_counter() - t0) * 1e3
    parts: Dict[str, float] = {}
    for evt in prof.events():
        if not evt.name.startswith(prefix):
            continue
        us = evt.device_time_total if cuda and evt.device_time_total > 0 else \
            evt.cpu_time_total
        parts[evt.name] = parts.get(evt.name, 0.0) + us / 1e3
    return wall_ms, parts


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS so that the next RSS baseline is honest."""
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_bytes() -> Optional[int]:
    """Resident set size of this process (``/proc/self/statm``), None where unavailable."""
    try:
        with open('/proc/self/statm', encoding='ascii') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return None


class PeakMemory:
    """Peak memory of the code inside ``with``, in MB (``.peak_mb``, kind in ``.kind``).

    CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus what
    was allocated at entry. CPU: a thread samples the resident set size every ``interval`` s;
    the result is the peak minus the RSS at entry (after ``gc.collect`` and ``malloc_trim``).
    Without ``/proc`` it falls back to the change of ``ru_maxrss`` (0 when an earlier, larger
    peak hides it).

    Args:
        device (str): ``'cpu'`` or a CUDA device.
        interval (float): CPU sampling period in seconds. Defaults to 0.002.
    """

    def __init__(self, device: str, interval: float = 0.002) -> None:
        self.device = str(device)
        self.interval = interval
        self.peak_mb = 0.0
        self.kind = ''
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._peak = 0
        self._base = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss = rss_bytes()
            if rss is not None and rss > self._peak:
                self._peak = rss
            self._stop.wait(self.interval)

    def __enter__(self) -> 'PeakMemory':
        gc.collect()
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            self.kind = 'cuda_max_memory_allocated'
            return self
        _malloc_trim()
        rss = rss_bytes()
        if rss is None:
            self.kind = 'cpu_ru_maxrss_growth'
            self._base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return self
        self.kind = 'cpu_rss_peak_growth'
        self._base = self._peak = rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated() - self._base) / 2**20
            return
        if self._thread is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, rss_bytes() or 0)
        self.peak_mb = max(peak - self._base, 0) / 2**20


def machine_info(device: str = 'cpu') -> dict:
    """What a benchmark table needs to be read: CPU/GPU, cores, threads, versions, load."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    info = dict(cpu=cpu, cores=os.cpu_count(),
                cores_available=len(os.sched_getaffinity(0)) if hasattr(
                    os, 'sched_getaffinity') else os.cpu_count(),
                torch_threads=torch.get_num_threads(), torch=torch.__version__,
                python=platform.python_version(),
                date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'))
    try:
        import mmengine
        import mmseg
        info.update(mmengine=mmengine.__version__, mmseg=mmseg.__version__)
    except ImportError:
        pass
    if hasattr(os, 'getloadavg'):
        info['loadavg_start'] = [round(x, 2) for x in os.getloadavg()]
    if str(device).startswith('cuda'):
        info['gpu'] = torch.cuda.get_device_name(torch.device(device))
        info['cuda_version'] = torch.version.cuda
    return info


def mean_median(times: Sequence[float]) -> Tuple[float, float]:
    """``(mean, median)`` of a list of timings."""
    return float(statistics.fmean(times)), float(statistics.median(times))
