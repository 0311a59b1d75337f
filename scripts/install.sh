#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install pfgm with every extra and the test tools.
# Usage: bash scripts/install.sh [VENV_DIR]   (default .venv)
set -euo pipefail
venv="${1:-.venv}"
py="${PYTHON:-python3}"
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# torch 2.14.1 comes from this machine's wheel cache; on a GPU machine it is the CUDA build pfgm uses there.
"$venv/bin/python" -m pip install -q "torch==2.14.1"
"$venv/bin/python" -m pip install -q -e ".[dev]"
"$venv/bin/python" -c "import torch, pfgm_core, modalities, recipes; print('pfgm installed; torch', torch.__version__, '| cuda', torch.cuda.is_available())"
