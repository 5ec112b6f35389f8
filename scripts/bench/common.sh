# Shared by the side-by-side benchmark scripts in this folder (source it from the repo root).

# Print the Python that scripts/odyssey.sh setup installed (ODYSSEY_PYTHON wins when set), or
# exit with a message naming what the peer script needs ($1).
odyssey_python() {
    local py="${ODYSSEY_PYTHON:-$(sed -n 's/^ODYSSEY_PYTHON = "\(.*\)"$/\1/p' .cargo/config.toml 2>/dev/null || true)}"
    [[ -n "$py" ]] || { echo "set ODYSSEY_PYTHON (a Python with $1); run scripts/odyssey.sh setup" >&2; exit 1; }
    echo "$py"
}
