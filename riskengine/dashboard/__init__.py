"""The dashboard: a list in use, watched week by week (DESIGN.md: outcomes back in -> the dashboard).

Hit rates of the list, its exploration slice and business as usual; calibration by risk band;
prevalence among the entities no list picked, estimated without bias from the exploration
slice; drift against the training data; fairness over time; operations and alerts; and a
plain-English verdict following the scoring spec's [dashboard] rules.


Names are imported on first use (PEP 562), so `riskengine --help` loads none of the heavy libraries.
"""

from __future__ import annotations

from riskengine._lazy import lazy_names

_WHERE = {"dashboard": "_dashboard", "figures": "_dashboard", "write_dashboard": "_dashboard", "Rules": "_figures", "ipw_arrays": "_stats", "ipw_prevalence": "_stats", "psi": "_stats", "rate": "_stats", "rate_ratio": "_stats", "Watch": "_watch", "group_counts": "_watch", "list_frame": "_watch", "read_watch": "_watch"}
__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_names(__name__, _WHERE)
