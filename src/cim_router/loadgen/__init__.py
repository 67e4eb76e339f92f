"""An open-loop load generator for a running router (`cim-router loadgen`): Poisson
arrivals, simulated agents on WatchAssignments streams, customers who abandon, and exact
latency percentiles per RPC and from Enqueue to the offer on the stream."""

from cim_router.loadgen.arrivals import pace, poisson_offsets
from cim_router.loadgen.config import LoadConfig, parse_mix
from cim_router.loadgen.percentiles import percentile, summary
from cim_router.loadgen.report import format_report
from cim_router.loadgen.runner import LoadRun, run_load

__all__ = [
    "LoadConfig",
    "LoadRun",
    "format_report",
    "pace",
    "parse_mix",
    "percentile",
    "poisson_offsets",
    "run_load",
    "summary",
]
