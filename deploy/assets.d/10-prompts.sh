#!/usr/bin/env bash
# IVR prompts (issue 4): synthesise the project's own phrases of ivr_flows/prompts/catalogue.yaml with festival +
# festvox-ru (espeak-ng -v ru as the fallback), as 8 kHz mono 16-bit WAV (sox), into the prompt dir (default
# <venv>/share/hotline/prompts; [ivr] prompt_dir / HOTLINE_IVR_PROMPT_DIR). Digits, hours and months are the
# human-voiced Asterisk RU files and need no build. Quick when nothing changed (hash of each text in .manifest.json).
set -euo pipefail
: "${VENV_BIN:?VENV_BIN must name the venv bin directory}"
exec "$VENV_BIN/python" -m ivr_flows.build_prompts
