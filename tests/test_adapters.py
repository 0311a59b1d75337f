"""The adapter wing as a modality author and a user meet it: registration (built-in map, entry points),
checkpoints that sample without the data, sample-time options with no config edits, typos as errors."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from pfgm.modalities import base
from pfgm.modalities.base import ModalityUnavailable, get_modality, modality_names
from pfgm.recipes.cli import compose
from pfgm.recipes.sample import generate_from_checkpoint, open_overrides
from pfgm.recipes.train import run_training

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C1CCNCC1", "OCC(O)CO", "CCN(CC)CC", "CC(C)CCO", "c1ccncc1"]

#: a modality shipped by a separate package: the shared toy ring (tests/fixtures) under the package's own name,
#: found through its entry point only
PLUGIN = """
from pfgm.modalities.base import register_modality
from toy_modality import Ring

@register_modality("circle_plugin_test")
class Circle(Ring):
    pass
"""


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """What `pip install` of a package declaring [project.entry-points."pfgm.modalities"] leaves on sys.path."""
    site = tmp_path / "site"
    (site / "pfgm_circle_plugin").mkdir(parents=True)
    (site / "pfgm_circle_plugin" / "__init__.py").write_text(PLUGIN)
    info = site / "pfgm_circle_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pfgm-circle-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pfgm.modalities]\ncircle_plugin_test = pfgm_circle_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_entry_point_modality_is_found_by_name_and_trains(installed_plugin, tmp_path):
    assert "circle_plugin_test" in modality_names()  # listed before anything imports it
    assert get_modality("circle_plugin_test").__module__ == "pfgm_circle_plugin"
    cfg = compose("train", ["recipe=digits"])
    cfg.update(modality={"name": "circle_plugin_test"}, backbone={"hidden": 32}, run_dir=str(tmp_path / "run"))
    cfg["pfgm"]["sigma_data"] = "auto"
    cfg["trainer"].update(max_steps=20, batch_size=32, progress=False, preview_every=0, warmup_steps=2)
    assert run_training(cfg)["step"] == 20
    modality, objects, _, _ = generate_from_checkpoint(
        {
            "checkpoint": str(tmp_path / "run"),
            "num_samples": 8,
            "seed": 0,
            "device": "cpu",
            "sampler": {"steps": 4},
            "progress": False,
        }
    )
    assert len(objects) == 8 and math.isfinite(modality.evaluate(objects).metrics["ring_error"])


def test_a_failed_import_names_the_extra_not_unknown_modality(monkeypatch):
    eps = base._entry_points()
    monkeypatch.setattr(base, "_entry_points", lambda: {**eps, "fake_mod_test": "pfgm_no_such_module_xyz"})
    monkeypatch.setitem(base.EXTRAS, "pfgm_no_such_module_xyz", "fake")
    with pytest.raises(ModalityUnavailable, match=r'pip install "pfgm\[fake\]"'):
        get_modality("fake_mod_test")
    with pytest.raises(KeyError, match="unknown modality 'nope'.*images"):
        get_modality("nope")


def test_unknown_modality_option_is_named():
    with pytest.raises(ValueError, match="no option colour.*image_size"):
        base.build_modality({"name": "images", "colour": 3})


def test_open_overrides_only_touch_modality_keys():
    assert open_overrides(["modality.num_nodes=12", "sampler.steps=3", "++modality.x=1", "checkpoint=a"]) == [
        "++modality.num_nodes=12",
        "sampler.steps=3",
        "++modality.x=1",
        "checkpoint=a",
    ]


@pytest.fixture(scope="module")
def molecule_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mol")
    smi = tmp / "mols.smi"
    smi.write_text("\n".join(SMILES * 3) + "\n")
    cfg = compose("train", ["recipe=molecules"])
    cfg["modality"].update(source="smiles", path=str(smi), test_fraction=0.2)
    cfg["backbone"].update(node_width=16, edge_width=8, depth=1, heads=2)
    cfg["run_dir"] = str(tmp / "run")
    cfg["trainer"].update(max_steps=2, batch_size=8, progress=False, preview_every=0)
    run_training(cfg)
    return tmp / "run", smi


def test_molecule_checkpoint_samples_and_writes_without_its_data(molecule_run, tmp_path, monkeypatch):
    run, smi = molecule_run
    from pfgm.modalities.molecules import molecule_sources

    def refuse(*a, **k):
        raise AssertionError("sampling read the training data")

    monkeypatch.setattr(molecule_sources, "load_molecules", refuse)
    smi.rename(smi.with_suffix(".gone"))  # and the file is not there at all
    try:
        modality, objects, _, _ = generate_from_checkpoint(
            {"checkpoint": str(run), "num_samples": 16, "seed": 0, "device": "cpu", "sampler": {"steps": 3}, "progress": False}
        )
        for out in (tmp_path / "m.smi", tmp_path / "m.sdf"):
            paths = modality.write(objects, out)
            assert out in paths and out.exists()
    finally:
        smi.with_suffix(".gone").rename(smi)


def test_sample_cli_takes_a_modality_option_with_the_shipped_config(molecule_run, tmp_path):
    run, _ = molecule_run
    code = "import sys; from pfgm.recipes.sample import main; sys.argv=['pfgm-sample', *sys.argv[1:]]; main()"
    p = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            f"checkpoint={run}",
            "num_samples=6",
            "sampler.steps=2",
            "modality.num_nodes=5",
            f"out={tmp_path / 'five'}",
            "progress=false",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    import json

    # every sample, valid or not, was drawn with 5 atoms (the summary counts them; valid ones have 5)
    summary = json.loads((tmp_path / "five" / "summary.json").read_text())
    assert summary["num_samples"] == 6
    from rdkit import Chem

    for line in (tmp_path / "five" / "samples.smi").read_text().split():
        assert Chem.MolFromSmiles(line).GetNumAtoms() == 5
    bad = subprocess.run(
        [sys.executable, "-c", code, f"checkpoint={run}", "modality.num_nodez=5", f"out={tmp_path / 'x.smi'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1 and "num_nodez" in bad.stderr and "num_nodes" in bad.stderr and "Traceback" not in bad.stderr


def test_sampling_at_another_D_warns_once_naming_both(molecule_run):
    run, _ = molecule_run
    c = {"checkpoint": str(run), "num_samples": 2, "seed": 0, "device": "cpu", "sampler": {"steps": 2}, "progress": False}
    with pytest.warns(UserWarning, match=r"D=inf a network trained at D=128") as rec:
        _, _, info, _ = generate_from_checkpoint({**c, "pfgm": {"D": "inf"}})
    assert math.isinf(info["D"]) and sum("trained at D" in str(w.message) for w in rec) == 1
    with pytest.warns(UserWarning, match=r"D=8 a network trained at D=128"):
        _, _, info, _ = generate_from_checkpoint({**c, "pfgm": {"D": 8}})
    assert info["D"] == 8
    # D=, once an alias of pfgm.D=, is refused by the console script in one line naming pfgm.D=
    code = "import sys; from pfgm.recipes.sample import main; sys.argv=['pfgm-sample', *sys.argv[1:]]; main()"
    p = subprocess.run(
        [sys.executable, "-c", code, f"checkpoint={run}", "D=8", "num_samples=2", "out=never"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 1 and p.stderr.strip() == "pfgm-sample: error: D= is not a key: use pfgm.D=8", p.stderr


def test_typos_under_pfgm_backbone_sampler_are_errors_naming_the_key(tmp_path):
    cfg = compose("train", ["recipe=digits"])
    cfg["run_dir"] = str(tmp_path / "r")
    with pytest.raises(ValueError, match=r"pfgm\.DD"):
        run_training({**cfg, "pfgm": {**cfg["pfgm"], "DD": 3}})
    with pytest.raises(ValueError, match=r"sampler\.stepz"):
        run_training({**cfg, "sampler": {**cfg["sampler"], "stepz": 3}})
    with pytest.raises(ValueError, match=r"backbone\.widht"):
        run_training({**cfg, "backbone": {**cfg["backbone"], "widht": 3}})
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_exported_solvers_leave_the_callers_tensor_alone():
    from pfgm.core.schedule import karras_sigmas
    from pfgm.core.solvers import SOLVERS

    x0 = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    keep = x0.clone()
    for name, solver in SOLVERS.items():
        solver(
            lambda x, s: 0.5 * x,
            x0,
            karras_sigmas(4, 0.01, 10.0, device="cpu").double(),
            alpha=0.1,
            generator=torch.Generator().manual_seed(1),
        )
        assert torch.equal(x0, keep), name
