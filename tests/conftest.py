"""tests/fixtures holds helpers the tests share (toy_modality.py, fresh_venv.py): on sys.path, they import by plain name,
as the test modules do (a package named ``tests`` in site-packages would shadow ours)."""

import sys
from pathlib import Path

FIXTURES = str(Path(__file__).resolve().parent / "fixtures")
if FIXTURES not in sys.path:
    sys.path.insert(0, FIXTURES)
