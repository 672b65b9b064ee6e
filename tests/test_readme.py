"""The README's quick-start test command is the one CI runs."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    command = ci[-1]
    readme = (ROOT / "README.md").read_text()
    assert "pytest" in command
    assert command in readme.split("## Quick start", 1)[1].split("##", 1)[0]


def test_readme_api_snippet_runs():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The API in 15 lines", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["obs"].shape == (4096, 2, 4)
    assert namespace["info"]["returned_team_return"].shape == (4096,)
