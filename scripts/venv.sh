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
}
