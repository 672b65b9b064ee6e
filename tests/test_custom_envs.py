"""Custom envs at the front door: ``runs.train`` takes an env object, the CLI takes
``--env-module`` or a ``pkg.module:Factory`` reference, and the run records how to rebuild
the env so that ``--resume`` and ``eval`` work in a new process."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import jaxmarl_lite as jl
from jaxmarl_lite import runs
from jaxmarl_lite.cli import main
from jaxmarl_lite.envs.grid import GridMeet
from jaxmarl_lite.registry import env_reference, make

MODULE = textwrap.dedent('''
    import dataclasses
    import jaxmarl_lite as jl
    from jaxmarl_lite.envs.grid import GridMeet

    @dataclasses.dataclass(frozen=True)
    class SmallMeet(GridMeet):
        """grid_meet on a small board, registered by importing this module."""
        size: int = 3
        max_steps: int = 8

    jl.register("small_meet", SmallMeet)

    def make_meet(size=4):
        return GridMeet(size=size, max_steps=10)
''')
TINY = ["--set", "num_envs=4", "--set", "buffer_size=16", "--set", "batch_size=4",
        "--set", "learning_starts=0", "--set", "eval_every=2", "--set", "eval_episodes=4",
        "--set", "hidden_size=8"]


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run([sys.executable, "-m", "jaxmarl_lite", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def test_cli_env_module_trains_resumes_and_evaluates_in_new_processes(tmp_path):
    (tmp_path / "my_envs.py").write_text(MODULE)
    run = tmp_path / "run"
    common = ["--total-steps", "480", "--save-every", "2", "--no-progress", *TINY]
    out = _cli("train", "vdn", "small_meet", "--env-module", "my_envs", "--out", str(run),
               "--stop-after", "2", *common, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    spec = json.loads((run / "config.json").read_text())
    assert (spec["env"], spec["env_module"]) == ("small_meet", "my_envs")
    out = _cli("train", "--resume", str(run), "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "small_meet" in out.stdout and (run / "summary.md").exists()
    out = _cli("eval", str(run), "--episodes", "4", cwd=tmp_path)
    assert out.returncode == 0 and "IQM" in out.stdout, out.stderr
    # a conflicting module on resume is refused, naming it
    out = _cli("train", "--resume", str(run), "--env-module", "other", cwd=tmp_path)
    assert out.returncode == 2 and "--env-module other" in out.stderr


def test_train_records_an_env_object_so_it_can_be_rebuilt(tmp_path):
    env = jl.make("grid_meet", size=4)
    run = runs.train("iql", env, out=tmp_path / "run", total_steps=160, progress=False,
                     overrides=dict(num_envs=4, buffer_size=16, batch_size=4, learning_starts=0,
                                    eval_every=1, eval_episodes=4, hidden_size=8))
    spec = runs.load_spec(run)
    assert (spec.env, spec.env_kwargs) == ("grid_meet", {"size": 4})
    assert spec.make_env() == env


def test_env_references():
    assert env_reference(jl.make("simple_spread")) == ("simple_spread", {})
    ref = env_reference(GridMeet(size=4, max_steps=9))
    assert make(*ref[:1], **ref[1]) == GridMeet(size=4, max_steps=9)
    assert make("jaxmarl_lite.envs.grid:GridMeet", size=3) == GridMeet(size=3)

    @dataclasses.dataclass(frozen=True)
    class Local(GridMeet):  # defined in a function: nothing can import it again
        pass

    with pytest.raises(ValueError, match="cannot record how to rebuild this Local"):
        env_reference(Local())


@pytest.mark.parametrize("call, error, message", [
    (lambda: runs._resolve_env(3, None, None), TypeError, "registered env name"),
    (lambda: runs._resolve_env(jl.make("grid_meet"), {"size": 4}, None), ValueError,
     "env_kwargs apply to an env name"),
    (lambda: runs._resolve_env("grid_meet", None, "no_such_module_xyz"), ValueError,
     "cannot import env module 'no_such_module_xyz'"),
    (lambda: runs._resolve_env("jaxmarl_lite.envs.grid:Nope", None, None), ValueError,
     "has no 'Nope'"),
    (lambda: runs._resolve_env("jaxmarl_lite.envs.grid:MOVES", None, None), TypeError,
     "not callable"),
    (lambda: runs._resolve_env("jaxmarl_lite.registry:registered_envs", None, None), TypeError,
     "not a jaxmarl_lite MultiAgentEnv"),
])
def test_bad_env_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("argv, message", [
    (["train", "vdn", "grid_meet", "--env-module", "no_such_module_xyz"],
     "cannot import env module"),
    (["train", "vdn", "no_such_module_xyz:Env"], "cannot import env module"),
    (["train", "vdn", "jaxmarl_lite.envs.grid:Nope"], "has no 'Nope'"),
])
def test_cli_bad_custom_env_is_one_line_exit_2(argv, message, tmp_path, capsys):
    code = main([*argv, "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_cli_restart_without_resume_is_one_line_exit_2(tmp_path, capsys):
    code = main(["train", "vdn", "grid_meet", "--restart", "--out", str(tmp_path / "run"),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--restart goes with --resume" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
