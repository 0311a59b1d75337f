#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install pfgm with every extra and the test tools.
# Usage: bash scripts/install.sh [VENV_DIR]   (default .venv)
set -euo pipefail
venv="${1:-.venv}"
py="${PYTHON:-python3}"
# espeak-ng (Debian) speaks the offline spoken-digits data set; without it those tests skip.
if ! command -v espeak-ng >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null) \
      || echo "install.sh: could not install espeak-ng; the speech tests will skip" >&2
  else
    echo "install.sh: espeak-ng missing (sudo apt-get install espeak-ng); the speech tests will skip" >&2
  fi
fi
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# torch 2.14.1 comes from this machine's wheel cache; on a GPU machine it is the CUDA build pfgm uses there.
"$venv/bin/python" -m pip install -q "torch==2.14.1"
"$venv/bin/python" -m pip install -q -e ".[dev]"
"$venv/bin/python" -c "import torch, pfgm.core, pfgm.modalities, pfgm.recipes; print('pfgm installed; torch', torch.__version__, '| cuda', torch.cuda.is_available())"
