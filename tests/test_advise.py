"""pfgm-bench advise: a pilot, the goal's sampler, and a last line of JSON."""

from __future__ import annotations

import json
import math

import pytest

from pfgm.recipes.advise import GOALS, goal_sampler
from test_cli import _one_line_error, run

PILOT = ["recipe=digits", "pilot_steps=4", "trainer.batch_size=8", "trainer.progress=false", "num_samples=16", "sampler.steps=4"]


def test_goals_change_only_what_they_name():
    base = {"solver": "heun", "steps": 18, "churn": 0.0}
    assert goal_sampler("quality", base, 0.2) == base
    assert goal_sampler("few_step", base, 0.2) == {"solver": "heun", "steps": 5, "churn": 0.0}
    assert goal_sampler("robust", base, 0.3) == {**base, "alpha": 0.3}
    assert set(GOALS) == {"quality", "few_step", "robust"}
    with pytest.raises(ValueError, match="'fast'"):
        goal_sampler("fast", base, 0.2)


def test_advise_trains_a_pilot_and_ends_with_a_json_line(tmp_path):
    out = tmp_path / "advice.jsonl"
    p = run(
        "bench", "advise", *PILOT, "goal=robust", "candidates=[2,16,inf]", f"run_root={tmp_path}/r", f"out={out}", cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    last = json.loads(p.stdout.strip().splitlines()[-1])
    assert set(last) == {"D", "why"} and last["D"] in (2, 16, "inf") and "N = 64" in last["why"]
    rec = json.loads(out.read_text().splitlines()[-1])
    assert rec["D"] == last["D"] and rec["goal"] == "robust" and rec["alpha"] == 0.2 and rec["pilot_steps"] == 4
    assert (tmp_path / "r" / "digits-pilot-Dinf-4" / "ema.safetensors").exists()
    # the advice is the largest candidate whose shell reaches the measured states
    from pfgm.core.shell import shell_quantiles

    D = math.inf if rec["D"] == "inf" else rec["D"]
    assert shell_quantiles(64, D, (0.9,))[0] >= rec["visited_log_ratio"] or D == 2
    larger = [d for d in (2, 16, math.inf) if d > D]
    assert all(shell_quantiles(64, d, (0.9,))[0] < rec["visited_log_ratio"] for d in larger)
    # a given pilot is probed, not retrained
    p = run(
        "bench",
        "advise",
        *PILOT,
        f"pilot={tmp_path}/r/digits-pilot-Dinf-4",
        f"run_root={tmp_path}/r2",
        f"out={out}",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "r2").exists() and json.loads(p.stdout.strip().splitlines()[-1])["D"] is not None


@pytest.mark.parametrize(
    "arg,needle",
    [("goal=fast", "'fast'"), ("pilot_fraction=2", "pilot_fraction"), ("candidates=[0,inf]", "0"), ("level=1.5", "level")],
)
def test_bad_advise_input_is_one_line_naming_it(tmp_path, arg, needle):
    _one_line_error(run("bench", "advise", "recipe=digits", arg, f"run_root={tmp_path}/r", cwd=tmp_path), needle)
    assert not (tmp_path / "r").exists()
