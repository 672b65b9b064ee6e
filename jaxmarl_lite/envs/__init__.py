"""Built-in environments; importing this module registers them."""
from jaxmarl_lite.envs.grid import GridGoal, GridMeet
from jaxmarl_lite.registry import register

register("grid_meet", GridMeet)
register("grid_goal", GridGoal)

import jaxmarl_lite.envs.mpe  # noqa: E402,F401  (registers the MPE tasks)
from jaxmarl_lite.envs import matrix_games as _matrix_games  # noqa: E402
from jaxmarl_lite.envs.matrix_games import MatrixGame  # noqa: E402
from jaxmarl_lite.envs.tictactoe import TicTacToe  # noqa: E402

register("matrix_game", MatrixGame)
for _name in _matrix_games.GAMES:
    register(_name, getattr(_matrix_games, _name))
register("tictactoe", TicTacToe, aliases=("tictactoe_v3",))

__all__ = ["GridGoal", "GridMeet", "MatrixGame", "TicTacToe"]
