"""The shipped checkpoints: every manifest entry is there, intact, loads without running code and samples;
README's table is the manifest's; a slow test re-measures each entry's metrics."""

from __future__ import annotations

import hashlib
import math

import pytest

from pfgm import zoo as pfgm_zoo
from pfgm.core.weights import load_weights
from pfgm.recipes.sample import generate_from_checkpoint

ENTRIES = sorted(pfgm_zoo.manifest().items())


def test_unknown_entry_lists_the_available_ones():
    with pytest.raises(FileNotFoundError, match="no zoo entry 'nope'"):
        pfgm_zoo.resolve("zoo:nope")
    assert pfgm_zoo.is_zoo("zoo:digits") and not pfgm_zoo.is_zoo("runs/digits")


def test_eval_of_a_zoo_entry_reports_beside_the_user_not_into_the_package():
    from pathlib import Path

    from pfgm.recipes.evaluate import _default_out

    assert _default_out("zoo:digits") == Path("eval-digits.json")


def test_every_spec_names_a_recipe():
    from pfgm.recipes.cli import recipe_catalogue

    recipes = {n for items in recipe_catalogue().values() for n, _ in items}
    assert pfgm_zoo.specs() and all(s["recipe"] in recipes for s in pfgm_zoo.specs().values())


@pytest.mark.parametrize("name, entry", ENTRIES, ids=[n for n, _ in ENTRIES])
def test_entry_is_intact_and_loads_without_code(name, entry):
    path = pfgm_zoo.resolve(f"zoo:{name}")
    data = path.read_bytes()
    assert len(data) == entry["size"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert entry["size"] <= 10e6  # the per-entry budget
    state, config, _ = load_weights(path)  # safetensors: tensors and JSON only
    assert state and config["modality"]["name"] and str(config["pfgm"]["D"]) == str(entry["D"])
    for key in ("commit", "train_seconds", "machine", "metrics", "eval", "command"):
        assert entry[key] not in (None, "", {}), key


@pytest.mark.parametrize("name, entry", ENTRIES, ids=[n for n, _ in ENTRIES])
def test_entry_samples(name, entry):
    modality, objects, info, _ = generate_from_checkpoint(
        {"checkpoint": f"zoo:{name}", "num_samples": 4, "seed": 0, "device": "cpu", "sampler": {"steps": 4}, "progress": False}
    )
    assert len(objects) == 4 and info["modality"] == modality.name


def test_spec_sampler_settings_are_the_ones_measured():
    """A spec's sampler settings reach the manifest only through an evaluation (build_zoo), so the two agree."""
    for name, entry in ENTRIES:
        assert (entry.get("sampler_overrides") or {}) == pfgm_zoo.specs()[name].get("sampler", {}), name


def test_a_guide_an_entry_samples_with_ships_with_it_and_encodes_as_it_does():
    """An entry whose sampler is autoguided (``sampler.guide``) names another shipped entry, so
    ``zoo:NAME`` works offline right after the install; the guide passes the model's own guide check."""
    from pfgm.recipes.build import load_checkpoint, load_guide

    guided = [(n, e) for n, e in ENTRIES if (e.get("sampler_overrides") or {}).get("guide")]
    assert guided, "zoo:cdr3 and zoo:rna_hairpin sample with a guide"
    for name, entry in guided:
        guide = entry["sampler_overrides"]["guide"]
        assert pfgm_zoo.is_zoo(guide) and pfgm_zoo.resolve(guide).is_file(), (name, guide)  # shipped, not a run dir
        assert entry["sampler_overrides"].get("guide_weight", 1.0) != 1.0, name
        modality, _, config = load_checkpoint(f"zoo:{name}")
        assert config["sampler"]["guide"] == guide  # applied on load, as the metrics were measured
        _, differs = load_guide(guide, config, modality)
        assert differs == [], (name, differs)  # the same data: a shorter run of the same recipe


def test_zoo_sampler_overrides_apply_on_load_and_yield_to_the_user(monkeypatch):
    from pfgm.recipes.build import generate_config, load_checkpoint

    real = pfgm_zoo.manifest()
    if "digits" not in real:
        pytest.skip("no digits entry")
    tuned = {**real, "digits": {**real["digits"], "sampler_overrides": {"sigma_max": 7.0, "rho": 9.0}}}
    monkeypatch.setattr(pfgm_zoo, "manifest", lambda: tuned)
    _, _, config = load_checkpoint("zoo:digits")
    g = generate_config(config, {}, 4, 0)
    assert (g.sigma_max, g.rho) == (7.0, 9.0)
    assert generate_config(config, {"sigma_max": 5.0}, 4, 0).sigma_max == 5.0  # the command line wins
    monkeypatch.setattr(pfgm_zoo, "manifest", lambda: real)
    _, _, plain = load_checkpoint("zoo:digits")
    assert generate_config(plain, {}, 4, 0).sigma_max != 7.0


def _build_zoo_module():
    """pfgm.zoo.build: the work behind scripts/build_zoo.py."""
    from pfgm.zoo import build

    return build


def test_reevaluating_shipped_weights_refuses_a_missing_entry_or_a_changed_file(monkeypatch):
    build_zoo = _build_zoo_module()
    if "digits" not in dict(ENTRIES):
        pytest.skip("no digits entry")
    real = dict(ENTRIES)
    monkeypatch.setattr(build_zoo, "manifest", lambda: {})
    with pytest.raises(SystemExit, match="no manifest entry"):
        build_zoo.reevaluate_shipped("digits", {}, {}, {}, None)
    monkeypatch.setattr(build_zoo, "manifest", lambda: {"digits": {**real["digits"], "sha256": "0" * 64}})
    with pytest.raises(SystemExit, match="does not match its manifest sha256"):
        build_zoo.reevaluate_shipped("digits", {}, {}, {}, None)


def test_an_entrys_eval_options_reach_pfgm_eval_and_its_manifest_record(monkeypatch, tmp_path):
    build_zoo = _build_zoo_module()
    spec = {"eval": {"num_samples": 8, "modality": {"eval_reference": 2000}}, "headline": ["log10_pgen_gap"]}
    assert build_zoo.eval_options(spec) == {"eval_reference": 2000} and build_zoo.eval_options({}) == {}
    ran = []
    monkeypatch.setattr(build_zoo, "_run", lambda cmd, env: ran.append(cmd))
    out = tmp_path / "e.json"
    out.write_text('{"metrics": {"log10_pgen_gap": -0.5}, "solver": "heun", "steps": 80}')
    report = build_zoo.evaluate(tmp_path, 8, 0, {"steps": 80}, out, {}, tmp_path, build_zoo.eval_options(spec))
    assert ran[0][-2:] == ["sampler.steps=80", "modality.eval_reference=2000"]
    rec = build_zoo.measured(report, 8, 0, {"sampler": {"steps": 18}}, {"steps": 80}, spec)
    assert rec["eval"]["modality"] == {"eval_reference": 2000} and rec["eval"]["sampler"] == {"steps": 80}
    assert "modality" not in build_zoo.measured(report, 8, 0, {}, {}, {})["eval"]


def test_zoo_budget_and_readme_table():
    total = sum(e["size"] for _, e in ENTRIES)
    assert total <= 60e6
    if ENTRIES:
        from pathlib import Path

        build_zoo = _build_zoo_module()
        readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
        assert build_zoo.readme_table() in readme, "README's zoo table is stale: python scripts/build_zoo.py --readme"


@pytest.mark.slow
@pytest.mark.parametrize("name, entry", ENTRIES, ids=[n for n, _ in ENTRIES])
def test_entry_metrics_reproduce(name, entry):
    """Same seed and sampler as the manifest: shares within two standard errors (binomial), others within 5 %."""
    from pfgm.recipes.evaluate import main  # noqa: F401  (the CLI path is what the manifest used)

    ev = entry["eval"]
    modality, objects, _, samples = generate_from_checkpoint(
        {
            "checkpoint": f"zoo:{name}",
            "num_samples": ev["num_samples"],
            "seed": ev["seed"],
            "device": "cpu",
            "sampler": {},
            "progress": False,
        }
    )
    modality.set_sample_options(**ev.get("modality", {}))  # the entry's eval-time options (a CDR3 reference size)
    got = modality.evaluate(objects, samples).metrics
    n = ev["num_samples"]
    for k in entry["headline"]:
        want = entry["metrics"][k]
        if want is None:
            continue
        if 0.0 <= want <= 1.0 and k not in ("fcd",) and "mmd" not in k and k not in ("degree", "cluster", "orbit", "spectral"):
            se = math.sqrt(max(want * (1 - want), 1.0 / n) / n)
            assert abs(got[k] - want) <= 2 * se, (k, got[k], want)
        else:
            assert got[k] == pytest.approx(want, rel=0.05, abs=1e-4), k
