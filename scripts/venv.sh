# Sourced by scripts/demo and scripts/test from the checkout's root: make or reuse the virtual
# environment .venv and keep chatserver installed in it. Debian's own Python refuses
# `pip install` outside a virtual environment (PEP 668), so nothing is installed into it.

VENV="$PWD/.venv"
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

apt_updated=
# Install Debian packages (as root); the package lists are fetched once per command.
apt_install() {
  [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

new_enough() {
  "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

# Print the Python that makes the venv: Debian's own when it is 3.11+, else python3 on PATH.
venv_python() {
  local python
  for python in /usr/bin/python3 python3; do
    if new_enough "$python"; then echo "$python"; return; fi
  done
  return 1
}

# Make .venv unless a working one is there. Debian ships `python3 -m venv` (and the ensurepip
# it needs) apart from Python itself, in python3-venv.
venv_make() {
  new_enough "$VENV/bin/python" && return
  local python
  if ! { python=$(venv_python) && "$python" -c 'import ensurepip, venv' 2>/dev/null; }; then
    if [ "$(id -u)" != 0 ]; then
      echo "needs Python 3.11+ with venv: run as root, or apt-get install python3-venv" >&2
      exit 1
    fi
    echo "installing Debian's python3-venv (python3 -m venv needs it)"
    apt_install python3-venv
    python=$(venv_python)
  fi
  # A .venv whose Python is gone or too old is replaced; a failed attempt leaves nothing behind.
  rm -rf "$VENV"
  "$python" -m venv "$VENV" || { rm -rf "$VENV"; exit 1; }
}

# Install chatserver editable, with an extra's packages if given (venv_install test). Code
# changes need no reinstall; only a changed pyproject.toml does, so its hash is kept in the venv.
venv_install() {
  local digest stamp="$VENV/.chatserver-installed"
  digest=$(sha256sum pyproject.toml | cut -c1-64)
  grep -qxF "$digest ${1:-base}" "$stamp" 2>/dev/null && return
  "$VENV/bin/python" -m pip install --quiet -e ".${1:+[$1]}"
  { grep -sF "$digest " "$stamp" || true; echo "$digest ${1:-base}"; echo "$digest base"; } \
    | sort -u >"$stamp.new"
  mv "$stamp.new" "$stamp"
}
