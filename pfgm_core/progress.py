"""Progress and metrics: a rank-0 tqdm bar with rate/ETA, and a resumable JSON-lines metrics log.

``MetricsLogger`` writes ``run_dir/metrics.jsonl``, one JSON object per line with at least ``"step"``.
On resume, :meth:`MetricsLogger.truncate_after` drops lines logged after the restored checkpoint so the
file never holds two different histories for the same steps. TensorBoard is mirrored when
``torch.utils.tensorboard`` imports (it needs the optional ``tensorboard`` package) and skipped otherwise.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from .atomic import atomic_write, atomic_write_bytes
from .distributed import is_main_process

__all__ = ["Progress", "MetricsLogger", "read_metrics", "METRICS_NAME"]

METRICS_NAME = "metrics.jsonl"


def _plain_number(v: Any) -> Any:
    """Tensors / numpy scalars → Python numbers (``.item()``); other values unchanged."""
    if hasattr(v, "item") and callable(v.item) and getattr(v, "numel", lambda: 1)() == 1:
        try:
            return v.item()
        except (TypeError, ValueError):
            return v
    return v


class Progress:
    """A thin tqdm bar showing rate and ETA, silent on non-zero ranks.

    Args:
        total: number of units (steps, samples) for 100 %.
        initial: units already done (a resumed run starts the bar there; rate counts only new units).
        enabled: show the bar; defaults to :func:`~pfgm_core.distributed.is_main_process`.
        desc: label in front of the bar.
        unit: unit name shown with the rate.
    """

    def __init__(
        self,
        total: int | None,
        initial: int = 0,
        enabled: bool | None = None,
        desc: str | None = None,
        unit: str = "it",
    ) -> None:
        self.enabled = is_main_process() if enabled is None else bool(enabled)
        self.n = initial
        self._bar: Any = None
        if self.enabled:
            from tqdm.auto import tqdm  # imported here: non-zero ranks and library users never need it

            self._bar = tqdm(
                total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, mininterval=0.5, smoothing=0.05
            )

    def update(self, n: int = 1, **postfix: Any) -> None:
        """Advance by ``n``; keyword values (loss=..., lr=...) are shown after the bar (floats as 4 digits)."""
        self.n += n
        if self._bar is None:
            return
        if postfix:
            shown = {}
            for k, v in postfix.items():
                v = _plain_number(v)
                shown[k] = f"{v:.4g}" if isinstance(v, float) else v
            self._bar.set_postfix(shown, refresh=False)
        self._bar.update(n)

    def write(self, msg: str) -> None:
        """Print a line without breaking the bar (only when enabled)."""
        if self._bar is not None:
            self._bar.write(msg)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _make_tb_writer(log_dir: Path, purge_step: int | None) -> Any | None:
    """A TensorBoard SummaryWriter, or None when tensorboard is not installed (it is optional)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Parse a metrics file (or ``run_dir/metrics.jsonl`` given a run dir); a torn last line is skipped."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_NAME
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        if isinstance(row, dict):
            rows.append(row)
    return rows


PLOT_NAME = "metrics.png"


def plot_metrics(path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path | None:
    """Draw every numeric column of a metrics file against the step (loss on a log axis) into a PNG
    beside it (``metrics.png``). Returns the path, or None when matplotlib is missing or nothing is logged."""
    rows = read_metrics(path)
    path = Path(path)
    out = Path(out) if out is not None else (path if path.is_dir() else path.parent) / PLOT_NAME
    keys = sorted(
        {
            k
            for r in rows
            for k, v in r.items()
            if k not in ("step", "time") and isinstance(v, numbers.Real) and not isinstance(v, bool)
        }
    )
    if not rows or not keys:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    cols = min(3, len(keys))
    rows_n = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 2.6 * rows_n), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, k in zip(axes.flat, keys):
        pts = [(r["step"], r[k]) for r in rows if isinstance(r.get(k), numbers.Real) and math.isfinite(r[k])]
        if not pts:
            continue
        ax.set_visible(True)
        ax.plot(*zip(*pts), lw=1)
        if k == "loss" and min(v for _, v in pts) > 0:
            ax.set_yscale("log")
        ax.set_title(k, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, dpi=90, format="png"))
    plt.close(fig)
    return out


class MetricsLogger:
    """Append ``{"step": ..., "time": ..., **metrics}`` lines to ``run_dir/metrics.jsonl``.

    Args:
        run_dir: run directory (created if needed).
        enabled: write anything at all; defaults to :func:`~pfgm_core.distributed.is_main_process`,
            so every rank can call :meth:`log` and only rank 0 writes.
        tensorboard: also write scalars to ``run_dir/tb`` when TensorBoard is installed.
        plot: on :meth:`close`, draw ``run_dir/metrics.png`` (every logged number against the step).

    Every line is flushed as written, so a crash loses at most the line being written.
    """

    def __init__(
        self, run_dir: str | os.PathLike[str], enabled: bool | None = None, tensorboard: bool = True, plot: bool = True
    ) -> None:
        self.run_dir = Path(run_dir)
        self.plot = plot
        self.path = self.run_dir / METRICS_NAME
        self.enabled = is_main_process() if enabled is None else bool(enabled)
        self.tensorboard = tensorboard
        self._file: Any = None
        self._tb: Any = None
        self._tb_tried = False
        self._purge_step: int | None = None

    def _open(self) -> Any:
        if self._file is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            # A crash can leave a last line without its newline; start a fresh line so ours stays parseable.
            needs_newline = False
            if self.path.exists() and self.path.stat().st_size > 0:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    needs_newline = f.read(1) != b"\n"
            self._file = open(self.path, "a", encoding="utf-8")
            if needs_newline:
                self._file.write("\n")
        return self._file

    def _writer(self) -> Any | None:
        if self.tensorboard and not self._tb_tried:
            self._tb_tried = True
            self._tb = _make_tb_writer(self.run_dir / "tb", self._purge_step)
        return self._tb

    def log(self, step: int, metrics: Mapping[str, Any] | None = None, **kw: Any) -> None:
        """Record metrics for ``step`` (from ``metrics`` and/or keywords). Tensors become numbers.

        Non-finite floats are written as JSON ``NaN``/``Infinity`` (Python's json reads them back)."""
        if not self.enabled:
            return
        row: dict[str, Any] = {"step": int(step), "time": round(time.time(), 3)}
        for k, v in {**(metrics or {}), **kw}.items():
            row[str(k)] = _plain_number(v)
        f = self._open()
        f.write(json.dumps(row, default=str) + "\n")
        f.flush()
        tb = self._writer()
        if tb is not None:
            for k, v in row.items():
                if k in ("step", "time") or isinstance(v, bool) or not isinstance(v, numbers.Real):
                    continue
                if math.isfinite(v):
                    tb.add_scalar(k, v, int(step))
            tb.flush()

    def truncate_after(self, step: int) -> int:
        """Drop lines with ``step`` > ``step`` (call right after resuming from that step's checkpoint).

        Unparseable (torn) lines are dropped too. The file is rewritten atomically. TensorBoard events
        after ``step`` are purged when the writer is next opened. Returns the number of lines removed.
        """
        if not self.enabled:
            return 0
        self._close_file()
        if self._tb is not None:
            self._tb.close()
        self._tb, self._tb_tried = None, False
        self._purge_step = int(step) + 1
        if not self.path.exists():
            return 0
        kept, removed = [], 0
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                ok = isinstance(row, dict) and int(row.get("step", 0)) <= step
            except (json.JSONDecodeError, TypeError, ValueError):
                ok = False
            if ok:
                kept.append(line)
            else:
                removed += 1
        if removed:
            atomic_write_bytes(self.path, "".join(ln + "\n" for ln in kept).encode("utf-8"))
        return removed

    def read(self) -> list[dict[str, Any]]:
        """All rows logged so far (see :func:`read_metrics`)."""
        if self._file is not None:
            self._file.flush()
        return read_metrics(self.path)

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self) -> None:
        """Close the file and TensorBoard writer, and draw ``metrics.png`` beside the file."""
        wrote = self._file is not None
        self._close_file()
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if wrote and self.enabled and self.plot:
            plot_metrics(self.path)

    def __enter__(self) -> "MetricsLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.read())
