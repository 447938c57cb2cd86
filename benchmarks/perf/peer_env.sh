#!/usr/bin/env bash
# Build the isolated environment that runs the peer implementation (PyPI `speechtokenizer` 1.0.1)
# for benchmarks/perf/compare_peer.py.
#
# Why a separate venv: the peer imports torchaudio, which this project must not depend on (its
# compiled extension crashes on these machines). Here torchaudio 2.8.0 is installed with --no-deps
# and its compiled extension files are deleted, so `import torchaudio` falls back to the pure-Python
# code paths the peer uses (transforms.Spectrogram, transforms.MelScale -> functional.melscale_fbanks),
# which only call torch. The main project venv is never touched.
#
# Usage: bash benchmarks/perf/peer_env.sh            # idempotent; re-run to repair
#        PEER_VENV=/some/dir bash benchmarks/perf/peer_env.sh
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEER_VENV="${PEER_VENV:-$REPO_ROOT/.venv-peer}"
CONSTRAINTS="$REPO_ROOT/constraints.txt"
PYTHON="${PYTHON:-python3}"

if [[ ! -x "$PEER_VENV/bin/python" ]]; then
    echo "[peer_env] creating venv at $PEER_VENV"
    "$PYTHON" -m venv "$PEER_VENV"
fi
PIP=("$PEER_VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
# pip's notes about configured local index folders that lack a package are noise here; errors pass
# through, and pipefail keeps pip's exit status.
quiet() { { grep -v "is ignored: it is neither a file nor a directory" || true; }; }

# torch is always named explicitly (and pinned through the project's constraints), so pip never
# picks another build.
echo "[peer_env] installing torch + the peer's runtime dependencies"
"${PIP[@]}" -c "$CONSTRAINTS" "torch==2.13.0" numpy scipy einops beartype tqdm pyyaml \
    accelerate tensorboard matplotlib lion-pytorch huggingface-hub soundfile psutil 2>&1 | quiet

# `import speechtokenizer` imports its trainer package, which imports everything above
# (beartype, accelerate, tensorboard, tqdm, lion_pytorch, matplotlib, torchaudio).
echo "[peer_env] installing speechtokenizer==1.0.1 and torchaudio==2.8.0 without dependencies"
"${PIP[@]}" --no-deps "speechtokenizer==1.0.1" "torchaudio==2.8.0" 2>&1 | quiet

# Remove torchaudio's compiled extensions: they are built against another torch and crash here.
SITE="$("$PEER_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
TA="$SITE/torchaudio"
removed=0
while IFS= read -r -d '' f; do
    rm -f "$f"
    removed=$((removed + 1))
done < <(find "$TA" -type f \( -name '*.so' -o -name '*.so.*' -o -name '*.pyd' \) -print0)
echo "[peer_env] removed $removed compiled torchaudio files"

echo "[peer_env] verifying"
"$PEER_VENV/bin/python" - <<'EOF'
import torch
import torchaudio
from torchaudio import transforms as T
import speechtokenizer
from speechtokenizer import SpeechTokenizer
from speechtokenizer.discriminators import (
    MultiPeriodDiscriminator, MultiScaleDiscriminator, MultiScaleSTFTDiscriminator)
from speechtokenizer.trainer import loss as peer_loss

assert torch.__version__.startswith("2.13.0"), torch.__version__
assert torchaudio.__version__.startswith("2.8.0"), torchaudio.__version__
spec = T.Spectrogram(n_fft=256, hop_length=64, win_length=256, window_fn=torch.hann_window,
                     normalized=True, center=False, pad_mode=None, power=None)(torch.randn(1, 1, 4000))
assert spec.is_complex() and spec.shape[-2] == 129, spec.shape
fb = T.MelScale(n_mels=80, sample_rate=16000, n_stft=513, norm="slaney", mel_scale="htk").fb
assert tuple(fb.shape) == (513, 80) and torch.isfinite(fb).all()
mel = peer_loss.mel_spectrogram(torch.randn(1, 16000), n_fft=1024, num_mels=80, sample_rate=16000,
                                hop_size=240, win_size=1024, fmin=0, fmax=None)
assert mel.shape[1] == 80
print(f"[peer_env] ok: torch {torch.__version__}, torchaudio {torchaudio.__version__} (pure Python), "
      f"speechtokenizer {speechtokenizer.__version__}")
EOF
