# Shared by the scripts in this folder: messages and installing Debian packages.
say() { printf '\033[1m[%s]\033[0m %s\n' "${SCRIPT_NAME:-setup}" "$*"; }
die() { printf '\033[1;31m[%s]\033[0m %s\n' "${SCRIPT_NAME:-setup}" "$*" >&2; exit 1; }

apt_install() {
  # Install Debian/Ubuntu packages when we are root; otherwise say what to install.
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    die "Missing: $*. Install them with 'sudo apt-get install $*'${APT_HINT:+, $APT_HINT}."
  fi
  say "Installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  fi
}
