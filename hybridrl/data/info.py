"""Human-readable summaries of a :class:`Dataset` (``hybridrl data info``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from hybridrl.data.dataset import Dataset

MAX_DIMS_SHOWN = 8  # per-dimension lists longer than this are cut, with a count of the rest


def info_json(ds: Dataset) -> dict[str, Any]:
    """Plain-Python summary, ready for ``json.dumps``."""
    return ds.stats()


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _vector(values: Sequence[float] | None, limit: int = MAX_DIMS_SHOWN) -> str:
    if values is None:
        return "-"
    values = [float(v) for v in values]
    shown = ", ".join(_num(v) for v in values[:limit])
    rest = len(values) - limit
    return f"[{shown}, ... +{rest} more]" if rest > 0 else f"[{shown}]"


def format_info(ds: Dataset) -> Table:
    """A two-column rich table: counts, episode lengths and returns, value ranges, reference scores."""
    s = ds.stats()
    table = Table(title=f"Dataset {s['name']}", show_header=False, title_justify="left")
    table.add_column("property", style="bold")
    table.add_column("value")
    length, ret, reward = s["episode_length"], s["return"], s["reward"]
    rows = [
        ("environment", s["env_id"] or "-"),
        ("transitions", f"{s['transitions']:,}"),
        ("episodes", f"{s['episodes']:,}  (terminals {s['terminals']:,}, timeouts {s['timeouts']:,})"),
        ("episode length", f"mean {length['mean']:.1f}, min {length['min']}, max {length['max']}"),
        ("return", f"mean {_num(ret['mean'])} ± {_num(ret['std'])}, min {_num(ret['min'])}, max {_num(ret['max'])}"),
        ("reward", f"mean {_num(reward['mean'])}, range [{_num(reward['min'])}, {_num(reward['max'])}]"),
        (f"observation min ({s['obs_dim']} dims)", _vector(s["observation_range"]["min"])),
        ("observation max", _vector(s["observation_range"]["max"])),
        (f"action min ({s['act_dim']} dims)", _vector(s["action_range"]["min"])),
        ("action max", _vector(s["action_range"]["max"])),
        ("action space low", _vector(None if ds.action_low is None else ds.action_low.reshape(-1).tolist())),
        ("action space high", _vector(None if ds.action_high is None else ds.action_high.reshape(-1).tolist())),
        ("ref scores (min, max)", f"{_num(s['ref_min_score'])}, {_num(s['ref_max_score'])}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def print_info(ds: Dataset, console: Console | None = None) -> None:
    """Print :func:`format_info` to ``console`` (default: stdout)."""
    (console or Console()).print(format_info(ds))
