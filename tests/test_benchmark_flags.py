"""Benchmark scripts' flags: a bad value stops the script at parse time with an error that
names what was expected (argparse exit status 2), before anything is compiled or run."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script, args, expected", [
    ("compare_ppo_speed.py", ["--algos", "ppo"],
     "invalid choice: 'ppo' (choose from 'mappo', 'ippo', 'ippo_large', 'mappo_ff', "
     "'mappo_ff64')"),
    ("compare_ql_speed.py", ["--algos", "qmx"],
     "invalid choice: 'qmx' (choose from 'qmix', 'vdn', 'iql', 'pqn')"),
    ("compare_ql_speed.py", ["--algos", "pqn", "--no-learning"],
     "--no-learning applies to the replay loops (qmix, vdn, iql)"),
    ("dense_gradient.py", ["--forms", "--repeats", "0"], "--repeats"),
    ("dense_gradient.py", ["--forms", "--name", "../elsewhere"], "a file name"),
])
def test_a_bad_flag_fails_naming_the_valid_values(script, args, expected):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 2, out.stderr[-2000:]
    assert expected in out.stderr
