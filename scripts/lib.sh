# Shared helpers for the set-up scripts. Sourced, not run.

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The Debian mirror this machine already uses, read from its own apt
# configuration, so that no registry host is ever written into the repo.
debian_mirror() {
  local uri=""
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    # deb822: the URIs of the stanza whose Suites name the release itself.
    uri=$(awk -v rel="$(debian_codename)" '
      /^[[:space:]]*$/ { if (suite_ok && u != "") { print u; exit } suite_ok=0; u=""; next }
      /^URIs:/ { u=$2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == rel) suite_ok=1 }
      END { if (suite_ok && u != "") print u }' /etc/apt/sources.list.d/*.sources | head -n1)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk -v rel="$(debian_codename)" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == rel) { print $i; exit } }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "cannot find the Debian mirror in /etc/apt (no 'deb' entry for $(debian_codename))"
  printf '%s\n' "${uri%/}"
}

debian_codename() { . /etc/os-release && printf '%s\n' "$VERSION_CODENAME"; }

# Runs apt-get update at most once per hour of set-up runs.
apt_update_once() {
  local stamp=/var/lib/apt/periodic/agentcgroup-update-stamp
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +60)" ] || [ "${1:-}" = force ]; then
    apt-get update -qq || die "apt-get update failed"
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
}

# Writes a deb822 source for SUITE of this machine's own Debian mirror, once.
# Returns 0 if it wrote the file (so the caller knows apt needs an update).
add_debian_suite() {
  local suite=$1 file=/etc/apt/sources.list.d/agentcgroup-$1.sources
  [ -f "$file" ] && return 1
  local mirror
  mirror=$(debian_mirror)
  log "adding $suite from $mirror"
  cat >"$file" <<SRC
Types: deb
URIs: $mirror
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}
