"""A group option named on the command line wins over the recipe; a key wins over both; a group left out
keeps the recipe's values (recipes are ``# @package _global_`` and Hydra applies them after the groups, so
recipes.cli.apply_group_choices sets the named options' settings again)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pfgm import SAMPLER_OPTIONS
from pfgm.core.generate import SAMPLER_KEYS
from pfgm.recipes.cli import _shipped_recipes, compose

INF = float("inf")
GROUPS = ("pfgm", "sampler", "trainer")


def _D(cfg) -> float:
    return float(cfg["pfgm"]["D"])  # pfgm/edm.yaml writes D: inf (a string the trainer reads as ∞)


@pytest.mark.parametrize("recipe", ["digits", "cifar10", "community_small", "ffhq64"])
def test_named_pfgm_option_wins_over_the_recipe(recipe):
    plain = compose("train", [f"recipe={recipe}"])
    assert _D(plain) != INF
    edm = compose("train", [f"recipe={recipe}", "pfgm=edm"])
    assert _D(edm) == INF
    # only what edm sets differs: the recipe's sigma_data etc. stand
    assert {k: v for k, v in edm["pfgm"].items() if k != "D"} == {k: v for k, v in plain["pfgm"].items() if k != "D"}
    assert _D(compose("train", [f"recipe={recipe}", "pfgm=D1"])) == 1


def test_a_key_wins_over_the_named_option_and_the_recipe():
    assert _D(compose("train", ["recipe=digits", "pfgm=edm", "pfgm.D=4"])) == 4
    assert _D(compose("train", ["recipe=digits", "pfgm.D=4", "pfgm=edm"])) == 4  # the order given does not matter
    cfg = compose("train", ["recipe=digits", "trainer=ddp", "trainer.batch_size=8"])
    assert cfg["trainer"]["batch_size"] == 8 and cfg["trainer"]["lr"] == 0.004


def test_named_trainer_option_keeps_its_settings_and_the_recipe_the_rest():
    recipe = _shipped_recipes()["digits"]["trainer"]
    cfg = compose("train", ["recipe=digits", "trainer=ddp"])["trainer"]
    assert (cfg["batch_size"], cfg["lr"], cfg["bf16"]) == (512, 0.004, True)  # configs/trainer/ddp.yaml
    assert (cfg["max_steps"], cfg["lr_decay"]) == (recipe["max_steps"], recipe["lr_decay"])  # ddp does not set them


def test_named_sampler_option_wins_over_the_recipe():
    assert compose("train", ["recipe=cdr3"])["sampler"]["steps"] == 80  # the recipe's
    s = compose("train", ["recipe=cdr3", "sampler=euler"])["sampler"]
    assert (s["solver"], s["steps"]) == ("euler", 35)
    # a recipe choosing a sampler option (override /sampler: molecules) loses to the command line's
    s = compose("train", ["recipe=qm9", "sampler=heun"])["sampler"]
    assert s["churn"] == 0.0 and "sigma_max" not in s


def test_old_option_names_are_refused_naming_the_new_ones():
    """pfgm=pfgm and trainer=cpu are gone (pfgm=D1, trainer=default): Hydra's refusal lists the new name, and the
    new names win over the recipe as the old ones did (D = 1; trainer=default keeps the recipe's trainer)."""
    from hydra.errors import MissingConfigException

    for old, new in (("pfgm=pfgm", "D1"), ("trainer=cpu", "default")):
        with pytest.raises(MissingConfigException, match=rf"Could not find '{old.replace('=', '/')}'") as e:
            compose("train", ["recipe=digits", old])
        assert new in e.value.options, e.value.options
    cfg = compose("train", ["recipe=digits", "pfgm=D1", "trainer=default"])
    assert _D(cfg) == 1 and cfg["trainer"] == compose("train", ["recipe=digits"])["trainer"]


@pytest.mark.parametrize("recipe", sorted(_shipped_recipes()))
def test_without_group_choices_the_recipe_wins(recipe):
    """No group named (or a group named with its default option): the recipe's own values, as before."""
    data = _shipped_recipes()[recipe]
    cfg = compose("train", [f"recipe={recipe}"])
    for group in GROUPS:
        for key, value in (data.get(group) or {}).items():
            assert cfg[group][key] == value, (recipe, group, key)
    assert compose("train", [f"recipe={recipe}", "pfgm=default", "trainer=default"]) == cfg


def test_every_entry_point_applies_it(tmp_path):
    import pfgm

    assert _D(pfgm.compose_train("digits", tmp_path / "r", ["pfgm=edm"])) == INF
    assert _D(pfgm.compose_train("digits", tmp_path / "r", ["pfgm=edm", "pfgm.D=4"])) == 4
    assert _D(pfgm.compose_train("digits", tmp_path / "r")) == 16  # the recipe's D (configs/recipe/digits.yaml)
    for app in ("bench", "sweep", "advise"):
        assert _D(compose(app, ["recipe=digits", "pfgm=edm"])) == INF, app
    # the console script, under --multirun: the config each job trains with (training itself stubbed out)
    code = (
        "import sys, pfgm.recipes.train as t; "
        "t.run_training = lambda c, d, settings: {'D': c['pfgm']['D'], 'batch_size': c['trainer']['batch_size']}; "
        "sys.argv = ['pfgm-train', *sys.argv[1:]]; t.main()"
    )
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "--multirun",
            "recipe=digits",
            "pfgm=edm,default",
            "trainer=ddp",
            f"run_dir={tmp_path / 'm'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert p.returncode == 0, p.stderr
    jobs = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    recipe_D = _D(compose("train", ["recipe=digits"]))  # pfgm=default is the default option: the recipe's D stands
    assert [(float(j["D"]), j["batch_size"]) for j in jobs] == [(INF, 512), (recipe_D, 512)], p.stdout


@pytest.mark.parametrize("app", ["sample", "eval"])
def test_sample_and_eval_take_every_sampler_key_as_null(app):
    """sample.yaml and eval.yaml compose one shared sampler section (configs/sampler_from_checkpoint.yaml):
    every key of GenerateConfig's (SAMPLER_KEYS, pfgm.SAMPLER_OPTIONS), null = the checkpoint's value."""
    sampler = compose(app, ["checkpoint=x"])["sampler"]
    assert sorted(sampler) == sorted(SAMPLER_KEYS) == list(SAMPLER_OPTIONS)
    assert all(v is None for v in sampler.values())
    assert compose(app, ["checkpoint=x", "sampler.steps=5"])["sampler"]["steps"] == 5
