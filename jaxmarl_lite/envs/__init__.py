"""Built-in environments; importing this module registers them."""
from jaxmarl_lite.envs.grid import GridGoal, GridMeet
from jaxmarl_lite.registry import register

register("grid_meet", GridMeet)
register("grid_goal", GridGoal)

__all__ = ["GridGoal", "GridMeet"]
