"""pfgm-bench sweep: the ladder, the cells, the records file and resuming an interrupted sweep."""

from __future__ import annotations

import math

import pytest
import torch

from pfgm.recipes.sweep import append_record, cell_id, data_dimension, default_ladder, parse_cells, parse_ladder, read_records
from test_cli import _one_line_error, run

TINY = [
    "recipe=digits",
    "trainer.max_steps=3",
    "trainer.batch_size=8",
    "trainer.progress=false",
    "num_samples=4",
    "likelihood_samples=0",
    "seeds=[0]",
]


def test_default_ladder_spans_N_over_64_to_8N_and_inf():
    assert default_ladder(64) == [1, 8, 64, 512, math.inf]  # N/64 = 1 folds into D = 1
    assert default_ladder(1000) == [1, 16, 125, 1000, 8000, math.inf]


@pytest.mark.parametrize(
    "ladder,needle", [([0, 16], "ladder[0]=0"), ([16, -2], "ladder[1]=-2"), ([], "non-empty"), (["x"], "ladder[0]='x'")]
)
def test_bad_ladders_name_the_value(ladder, needle):
    with pytest.raises(ValueError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        parse_ladder(ladder)


@pytest.mark.parametrize(
    "cell,needle",
    [({"bits": 1}, "bits"), ({"steps": 0}, "steps"), ({"alpha": -0.1}, "alpha"), ({"sampler": "heun"}, "unknown key")],
)
def test_bad_cells_name_the_field(cell, needle):
    with pytest.raises(ValueError, match=needle):
        parse_cells([cell])


def test_cells_fill_their_defaults():
    assert parse_cells([{"solver": "euler", "steps": 5}]) == [{"solver": "euler", "steps": 5, "alpha": 0.0, "bits": None}]


def test_data_dimension_of_masked_data_is_the_typical_size():
    class Masked:
        def __init__(self, sizes):
            self.sizes = sizes

        def __len__(self):
            return len(self.sizes)

        def take(self, idx):
            mask = (torch.arange(100)[None, :] < torch.tensor(self.sizes)[idx][:, None]).float()
            return type("B", (), {"x": torch.zeros_like(mask), "mask": mask})()

    dims = data_dimension(Masked(list(range(1, 101))))
    assert dims["N"] == 50 and dims["N_p10"] == 11 and dims["N_p90"] == 90


def test_records_file_survives_a_torn_last_line(tmp_path):
    out = tmp_path / "s.jsonl"
    append_record(out, {"recipe": "a", "D": 4})
    with open(out, "a") as fh:
        fh.write('{"recipe": "a", "D"')  # a writer killed mid-line
    assert read_records(out) == [{"recipe": "a", "D": 4}]
    append_record(out, {"recipe": "a", "D": "inf"})  # the torn half record is cut off, not buried
    assert [r["D"] for r in read_records(out)] == [4, "inf"]
    assert out.read_text().count("\n") == 2


def test_a_bad_line_inside_the_records_file_is_an_error_naming_it(tmp_path):
    out = tmp_path / "s.jsonl"
    out.write_text('{"D": 1}\n{"D"\n{"D": 2}\n')
    with pytest.raises(ValueError, match=r"s.jsonl:2"):
        read_records(out)


def test_cell_identity_ignores_metrics_and_timings():
    a = {
        "recipe": "digits",
        "D": 4,
        "seed": 0,
        "max_steps": 3,
        "solver": "heun",
        "steps": 5,
        "alpha": 0.0,
        "bits": None,
        "n_samples": 4,
        "sample_seed": 0,
    }
    assert cell_id(a) == cell_id({**a, "digits_fd": 3.0, "sample_seconds": 1.0})
    assert cell_id(a) != cell_id({**a, "bits": 4}) != cell_id({**a, "D": "inf"})


def test_an_interrupted_sweep_skips_its_finished_cells(tmp_path):
    out, runs = tmp_path / "d.jsonl", tmp_path / "runs"
    args = [
        *TINY,
        "ladder=[4]",
        f"out={out}",
        f"run_root={runs}",
        "cells=[{solver:euler,steps:2},{solver:euler,steps:2,alpha:0.1}]",
    ]
    p = run("bench", "sweep", *args, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    recs = read_records(out)
    assert [(r["D"], r["alpha"]) for r in recs] == [(4, 0.0), (4, 0.1)]
    flat = recs[0]
    for key in ("recipe", "D", "N", "D_over_N", "seed", "solver", "nfe", "alpha", "bits", "n_samples", "digits_fd"):
        assert key in flat, key
    assert flat["N"] == 64 and flat["D_over_N"] == 4 / 64 and flat["nfe"] == 2
    # interrupt: drop the last record, as if the sweep had been killed while sampling it
    out.write_text(out.read_text().splitlines()[0] + "\n")
    p = run("bench", "sweep", *args, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    again = read_records(out)
    assert [(r["D"], r["alpha"]) for r in again] == [(4, 0.0), (4, 0.1)]
    assert again[0] == recs[0]  # the finished cell was not redone
    assert "α=0 " not in p.stderr and "α=0.1" in p.stderr
    # nothing left: no training, no sampling, no record
    p = run("bench", "sweep", *args, cwd=tmp_path)
    assert p.returncode == 0 and len(read_records(out)) == 2 and "α=" not in p.stderr


@pytest.mark.parametrize(
    "args,needles",
    [
        (["recipe=no_such_recipe"], ["no_such_recipe"]),
        (["recipe=digits", "ladder=[0,16]"], ["ladder[0]=0"]),
        (["recipe=digits", "cells=[{solver:heun,steps:18,bits:1}]"], ["bits", "1"]),
    ],
)
def test_bad_sweep_input_is_one_line_naming_the_value(tmp_path, args, needles):
    _one_line_error(run("bench", "sweep", *args, f"out={tmp_path / 'd.jsonl'}", f"run_root={tmp_path}/r", cwd=tmp_path), *needles)
    assert not (tmp_path / "d.jsonl").exists()


def test_multirun_splits_the_ladder_into_jobs_that_share_the_records_file(tmp_path):
    """What a cluster launcher (submitit/SLURM) runs: one job per D, each appending under the file's lock."""
    out = tmp_path / "d.jsonl"
    p = run(
        "bench",
        "sweep",
        "--multirun",
        *TINY,
        "ladder=[4],[inf]",
        f"out={out}",
        f"run_root={tmp_path}/runs",
        "cells=[{solver:euler,steps:2}]",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert sorted(str(r["D"]) for r in read_records(out)) == ["4", "inf"]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["d.jsonl", "d.jsonl.lock", "runs"]  # no multirun/ left behind
