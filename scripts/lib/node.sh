# Sourced by scripts/run.sh and scripts/test.sh: the Node.js version the web app's build needs.
# Vite 8, Rolldown and @vitejs/plugin-react 6 (web/package-lock.json) declare
# "engines": {"node": "^20.19.0 || >=22.12.0"}; older versions fail the build.

NODE_NEEDED="20.19 or later in the 20 line, or 22.12 or later"

# Succeeds when `node` and `npm` are on PATH and node's version is one the web build accepts;
# otherwise says what is needed and how to get it, and fails.
check_node() {
  local found="" v major minor
  if command -v node >/dev/null 2>&1; then
    found=$(node --version 2>/dev/null || true)
    v=${found#v}
    major=${v%%.*}
    minor=${v#*.}
    minor=${minor%%.*}
    if [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] &&
      { (( major == 20 && minor >= 19 )) || (( major == 22 && minor >= 12 )) || (( major >= 23 )); }; then
      if command -v npm >/dev/null 2>&1; then
        return 0
      fi
      echo "error: Node.js $found is installed but npm is not; the web app's build needs both." >&2
      echo "       Install npm (it comes with NodeSource's and nvm's Node.js)." >&2
      return 1
    fi
  fi
  {
    if [ -n "$found" ]; then
      echo "error: Node.js $found ($(command -v node)) cannot build the web app."
    else
      echo "error: Node.js is not installed (no \`node\` on PATH); the web app's build needs it."
    fi
    echo "       The web build (Vite 8) needs Node.js $NODE_NEEDED"
    echo "       (engines: ^20.19.0 || >=22.12.0). Debian 12's packaged Node.js 18 is too old."
    echo "       Install a current one, for example:"
    echo "         NodeSource: curl -fsSL https://deb.nodesource.com/setup_22.x | sudo -E bash - && sudo apt-get install -y nodejs"
    echo "         nvm:        nvm install 22   (nvm: https://github.com/nvm-sh/nvm)"
    echo "       then run this script again."
  } >&2
  return 1
}
