# Shared by the side-by-side benchmark scripts in this folder (source it from the repo root).

# Print the Python that scripts/odyssey.sh setup installed (ODYSSEY_PYTHON wins when set), or
# exit with a message naming what the peer script needs ($1).
odyssey_python() {
    local py="${ODYSSEY_PYTHON:-$(sed -n 's/^ODYSSEY_PYTHON = "\(.*\)"$/\1/p' .cargo/config.toml 2>/dev/null || true)}"
    [[ -n "$py" ]] || { echo "set ODYSSEY_PYTHON (a Python with $1); run scripts/odyssey.sh setup" >&2; exit 1; }
    echo "$py"
}

# Print the folder of the full odyssey-mini corpus that the side-by-side benchmarks read:
# $ODYSSEY_MINI_DIR, else ../shared/data/odyssey-mini beside the repository; exit with a message
# when it is not there (the repository itself ships only data/odyssey-mini-sample, which is too
# small for throughput figures).
odyssey_mini_dir() {
    local dir="${ODYSSEY_MINI_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/../shared/data/odyssey-mini}"
    [[ -f "$dir/manifest.json" ]] || {
        echo "odyssey-mini not found at $dir (no manifest.json): set ODYSSEY_MINI_DIR to the full corpus, or pass its path as the first argument" >&2
        exit 1
    }
    echo "$dir"
}
