"""Build (or refresh) one zoo entry: train it with the project's own command, evaluate it, record it.

    python scripts/build_zoo.py NAME              # train (resuming if interrupted), evaluate, install, manifest
    python scripts/build_zoo.py NAME --eval-only  # re-evaluate (the run, or the shipped weights) and rewrite its entry
    python scripts/build_zoo.py --readme          # regenerate README's "Pretrained models" table
    bash scripts/build_zoo.sh NAME                # the same as the first line

What to build comes from pfgm_zoo/specs.json (recipe + overrides, and optional sampler settings that
were measured better on the trained weights than the recipe's: they go into the evaluation and into the
manifest's ``sampler_overrides``, which ``zoo:NAME`` applies when it loads); everything in the manifest
(commit, wall seconds, machine, sha256, metrics) is measured here. The machine line carries a
reference speed (forward+backward steps/s of a fixed small MLP, measured in this run), so wall
seconds from different machines can be compared.

The work is pfgm.zoo.build's; this is its command line.
"""

from pfgm.zoo.build import main

if __name__ == "__main__":
    main()
