"""Built-in environments; importing this module registers them."""
from jaxmarl_lite.envs.grid import GridGoal, GridMeet
from jaxmarl_lite.registry import register

register("grid_meet", GridMeet)
register("grid_goal", GridGoal)

import jaxmarl_lite.envs.mpe  # noqa: E402,F401  (registers the MPE tasks)

__all__ = ["GridGoal", "GridMeet"]
