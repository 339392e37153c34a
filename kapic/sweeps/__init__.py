"""``kapic sweep``: a grid of boots (:mod:`.grid`), run on any executor (:mod:`.run`), into a
results file that survives interruption and its summary (:mod:`.results`)."""

from kapic.sweeps.grid import Grid, GridError
from kapic.sweeps.run import sweep

__all__ = ["Grid", "GridError", "sweep"]
