# Shared by the scripts in this folder: messages and the Debian packages the project needs.
say() { printf '\033[1m[%s]\033[0m %s\n' "${SCRIPT_NAME:-setup}" "$*"; }
die() { printf '\033[1;31m[%s]\033[0m %s\n' "${SCRIPT_NAME:-setup}" "$*" >&2; exit 1; }

postgres_bindir() {
  # The newest PostgreSQL server installed (Debian puts each major version in its own folder).
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] && command -v pg_config >/dev/null; then dir=$(pg_config --bindir); fi
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; fi
}

port_in_use() {
  # 0 when something accepts connections on 127.0.0.1:$1, whoever started it.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
