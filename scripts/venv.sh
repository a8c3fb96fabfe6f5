# Sourced by scripts/serve and scripts/test: make ./.venv hold apf and the given extras.
ensure_venv() {
    local extras="$1"
    local stamp=".venv/.installed${extras}"
    if [ ! -x .venv/bin/python ]; then
        python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
        touch "$stamp"
    fi
    # The engine's compiled build (mypyc); a no-op when one matches the sources, and
    # the engine runs interpreted when it cannot be built.
    .venv/bin/python scripts/compile_engine.py >/dev/null || true
}
