"""Every script in examples/ runs end to end at its tiny size (``--tiny``) and prints its
result lines; the examples use only the package's public names."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXPECTED = {
    "grid_worlds.py": ["iql on GridGoal", "qmix on GridMeet", "random policy"],
    "tictactoe_vs_minimax.py": ["network alone vs minimax", "network + 32-simulation search",
                                "as player_2: lost lines", "minimax itself, lost lines per "
                                "seat: [0, 0]"],
    "matrix_games.py": ["prisoners_dilemma: pure NE [(1, 1)]", "rock-paper-scissors",
                        "stag hunt, replicator"],
    "simple_spread.py": ["mappo: greedy return", "maddpg: greedy return", "random policy"],
    "custom_env.py": ["VDN on SameButton: greedy team return"],
}


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_tiny(name, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [name, "--tiny"])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    out = capsys.readouterr().out
    for line in EXPECTED[name]:
        assert line in out, (name, line, out)
