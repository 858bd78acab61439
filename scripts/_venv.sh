# shellcheck shell=bash
# Sourced by scripts/test, scripts/serve and bench/run: makes (if missing) and activates the project's virtualenv
# ($TOKCOUNT_VENV, default .venv) with Python 3.12, which ctok (the Claude text tokenizer) needs.
# The interpreter: pyenv's newest 3.12.x (these machines keep it there, outside PATH), else `python3.12` on PATH,
# else `python3` (fine where it is 3.12 or newer; below that pip refuses the project, and a message says why).
# An existing virtualenv of another version is kept (other shells may be using it) with a message, unless
# TOKCOUNT_REINSTALL=1, which rebuilds it with the interpreter found here.

tokcount_python() {
  local best="" candidate
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.*/bin/python; do
    [ -x "$candidate" ] || continue
    # version sort, so 3.12.10 beats 3.12.9 (the glob sorts them as text)
    if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$best" "$candidate" | sort -V | tail -n1)" = "$candidate" ]; then
      best="$candidate"
    fi
  done
  # a pyenv shim named python3.12 exists even where its version does not: run it to be sure
  if [ -z "$best" ] && command -v python3.12 >/dev/null 2>&1 && python3.12 -c '' >/dev/null 2>&1; then
    best="$(command -v python3.12)"
  fi
  if [ -z "$best" ]; then
    best="$(command -v python3)"
    echo "tokcount: no Python 3.12 found (~/.pyenv/versions/3.12.*, python3.12 on PATH); using python3," \
         "$("$best" -c 'import sys; print(sys.version.split()[0])') at $best" >&2
    if ! "$best" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
      echo "tokcount: it is older than 3.12, which tokcount requires (requires-python; ctok, the Claude text" \
           "tokenizer, needs it): install 3.12 (pyenv install 3.12) or put python3.12 on PATH" >&2
    fi
  fi
  echo "$best"
}

tokcount_venv() {
  local venv="$1" python want have
  python="$(tokcount_python)"
  want="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if [ -x "$venv/bin/python" ]; then
    have="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [ "$have" != "$want" ]; then
      if [ "${TOKCOUNT_REINSTALL:-}" = 1 ]; then
        echo "tokcount: rebuilding $venv with Python $want (was $have)" >&2
        "$python" -m venv --clear "$venv"
      else
        echo "tokcount: $venv is Python $have, not $want; TOKCOUNT_REINSTALL=1 rebuilds it" >&2
      fi
    fi
  else
    "$python" -m venv "$venv"
  fi
  # shellcheck disable=SC1091
  . "$venv/bin/activate"
}
