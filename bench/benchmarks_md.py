"""What every bench script shares: BENCHMARKS.md, one section per script (each rewrites only its own section,
between its markers), the machine a figure came from, and a process's own peak RSS.

    from benchmarks_md import write_section
    write_section("ingest-bench", markdown)     # <!-- ingest-bench:begin --> ... <!-- ingest-bench:end -->
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(name: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace section `name` (or append it), leaving every other section as it is."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body.strip()}\n{end}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")


def machine() -> str:
    """The machine a figure came from, as one phrase (cores, GPU, Python, load when measured)."""
    gpu = "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    load = os.getloadavg()[0]
    return (f"{os.cpu_count()} CPU cores, {gpu} ({platform.machine()}, Python {platform.python_version()}), "
            f"1-minute load average {load:.1f}")


def peak_rss_mb() -> float:
    """This process's peak RSS in MB, from /proc/self/status VmHWM: it starts afresh at exec, whereas ru_maxrss keeps
    the high-water mark of the process that forked it (a bench's parent that built a big warehouse would show
    through every child)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource  # not Linux: the best there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
