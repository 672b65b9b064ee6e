"""The research API and the documentation: every algorithm has a public parameter
initialiser matching its loop, every config field is documented (the docs' config tables
are built from those docstrings), and the site builds with ``mkdocs build --strict``."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jax
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite import algorithms
from jaxmarl_lite.algorithms import selfplay_ppo

ROOT = Path(__file__).resolve().parents[1]
ENVS = {"maddpg": "simple_spread", "alphazero": "tictactoe", "selfplay_ppo": "tictactoe"}


def _module(name):
    return selfplay_ppo if name == "selfplay_ppo" else algorithms.get(name)


@pytest.mark.parametrize("name", sorted(algorithms.ALGORITHMS) + ["selfplay_ppo"])
def test_public_initialiser_matches_the_loops_parameters(name):
    module = _module(name)
    env = jl.make(ENVS.get(name, "grid_meet"))
    config = module.Config()
    if name == "alphazero":
        config = module.PRESETS["quick"]
    params = jax.eval_shape(lambda k: module.init_params(config, env, k), jax.random.key(0))
    loop = jax.eval_shape(module.make_stages(config, env).init, jax.random.key(0)).params
    assert jax.tree.structure(params) == jax.tree.structure(loop)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(loop)):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)


def test_every_config_field_has_a_docstring():
    for name in sorted(algorithms.ALGORITHMS) + ["selfplay_ppo"]:
        docs = _module(name).Config.field_docs()
        assert docs and all(docs.values()), (name, [k for k, v in docs.items() if not v])


def test_field_docs_reads_the_docstring_under_each_field():
    docs = algorithms.get("pqn").Config.field_docs()
    assert docs["q_lambda"].startswith("Lambda of the Q(lambda) targets")
    assert list(docs) == algorithms.get("pqn").Config.field_names()


def test_config_table_hook_renders_every_algorithm():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import hooks
    finally:
        sys.path.pop(0)
    table = hooks.config_table("pqn")
    assert "| `q_lambda` | `float` | `0.65` |" in table and "*(tunable)*" in table
    assert "`'none' | 'vdn' | 'qmix'`" in table
    page = hooks.on_page_markdown("x\n<!-- config: coma -->\ny", None, None, None)
    assert "| `td_lambda` |" in page and "<!--" not in page
    with pytest.raises(ValueError, match="Valid choices: alphazero"):
        hooks.config_table("nope")


def test_the_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    out = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    assert (tmp_path / "site" / "algorithms" / "index.html").exists()
    html = (tmp_path / "site" / "algorithms" / "index.html").read_text()
    assert "q_lambda" in html  # the generated config tables are in the page
