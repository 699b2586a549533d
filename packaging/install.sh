#!/bin/bash
# Vomeet appliance installer, run from the USB image as root:
#   ./install.sh [--upgrade | --rollback | --uninstall [--purge] | --verify-only]
#                [--no-start] [--root DIR] [--ready-timeout SECONDS]
# Exit codes: 0 done (or nothing to change), 2 usage, 3 image failed verification (nothing was
# touched), 4 preflight refused, 5 install step failed, 6 upgrade not ready and rolled back,
# 7 nothing to roll back / not installed. Layout and flags: packaging/README.md, "Image".
# The whole script is one function called on the last line, so a truncated copy runs nothing.

main() {
set -euo pipefail
umask 022

readonly VERSION="@VERSION@"
readonly SIGNING_PUBKEY="@SIGNING_PUBKEY@"
readonly UNIT=vomeet.service
readonly SVC_USER=vomeet
readonly EXIT_USAGE=2 EXIT_TAMPERED=3 EXIT_PREFLIGHT=4 EXIT_FAILED=5 EXIT_ROLLED_BACK=6 EXIT_NOTHING=7

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODE=install
PURGE=0
NO_START=0
READY_TIMEOUT=180
ROOT=${VOMEET_INSTALL_ROOT:-}

while [ $# -gt 0 ]; do
  case "$1" in
    --upgrade) MODE=upgrade ;;
    --rollback) MODE=rollback ;;
    --uninstall) MODE=uninstall ;;
    --verify-only) MODE=verify ;;
    --purge) PURGE=1 ;;
    --no-start) NO_START=1 ;;
    --root) ROOT=${2:?--root needs a directory}; shift ;;
    --ready-timeout) READY_TIMEOUT=${2:?--ready-timeout needs seconds}; shift ;;
    -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit "$EXIT_USAGE" ;;
  esac
  shift
done
if [ "$PURGE" = 1 ] && [ "$MODE" != uninstall ]; then
  echo "install.sh: --purge goes with --uninstall" >&2; exit "$EXIT_USAGE"
fi
ROOT=${ROOT%/}
[ -z "$ROOT" ] || [ -d "$ROOT" ] || { echo "install.sh: --root $ROOT is not a directory" >&2; exit "$EXIT_USAGE"; }
[ -z "$ROOT" ] || ROOT=$(cd "$ROOT" && pwd)
cd /  # the service user's commands must not start in a folder it cannot read

readonly OPT="$ROOT/opt/vomeet" DATA="$ROOT/var/lib/vomeet" ETC="$ROOT/etc/vomeet"
readonly SECRETS="$ROOT/etc/vomeet/secrets" UNIT_DIR="$ROOT/etc/systemd/system"
readonly SYSUSERS="$ROOT/usr/lib/sysusers.d/vomeet.conf" TMPFILES="$ROOT/usr/lib/tmpfiles.d/vomeet.conf"
readonly STATE="$ROOT/opt/vomeet/upgrade-state"
CHANGES=0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

say() { printf '%s\n' "$*"; }
changed() { CHANGES=$((CHANGES + 1)); say "  $*"; }
die() { local code=$1; shift; printf 'install.sh: %s\n' "$*" >&2; exit "$code"; }

# --- verification: before anything is touched -------------------------------------------------
tool() {  # a verifier/unpacker: the system's, else the installed copy, else the stick's
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"
  elif [ -x "$OPT/tools/$name" ]; then echo "$OPT/tools/$name"
  else  # a copy, so a stick mounted noexec still works
    [ -x "$WORK/tools/$name" ] || { mkdir -p "$WORK/tools"; cp -r "$SRC/tools/." "$WORK/tools/"; }
    echo "$WORK/tools/$name"
  fi
}

run_tool() {
  local path
  path=$(tool "$1"); shift
  LD_LIBRARY_PATH="$(dirname "$path")/lib" "$path" "$@"
}

verify_image() {
  say "Verifying the image in $SRC"
  if [ ! -f "$SRC/SHA256SUMS" ] || [ ! -f "$SRC/SHA256SUMS.minisig" ]; then
    die "$EXIT_TAMPERED" "REFUSED: SHA256SUMS or its signature is missing; this is not a complete Vomeet image"
  fi
  local keys=("$SIGNING_PUBKEY") key
  # The key the installed release trusts, too: a stick whose install.sh carries another key is refused.
  if [ -f "$ETC/release.pub" ]; then keys+=("$(tail -n 1 "$ETC/release.pub")"); fi
  for key in "${keys[@]}"; do
    run_tool minisign -Vq -P "$key" -m "$SRC/SHA256SUMS" -x "$SRC/SHA256SUMS.minisig" >/dev/null 2>&1 \
      || die "$EXIT_TAMPERED" "REFUSED: the signature of SHA256SUMS does not verify with the release key $key: the image was altered or is not an official build; nothing was changed"
  done
  if ! (cd "$SRC" && sha256sum --quiet --strict -c SHA256SUMS >"$WORK/sums.log" 2>&1); then
    die "$EXIT_TAMPERED" "REFUSED: files differ from the signed SHA256SUMS (tampered or damaged image; nothing was changed):
$(grep -v ': OK$' "$WORK/sums.log" | head -n 10)"
  fi
  # Every file must be listed: an added file is refused like a changed one.
  (cd "$SRC" && find . -path ./lost+found -prune -o \( -type f -o -type l \) -print | sed 's|^\./||' \
    | grep -vxF -e SHA256SUMS -e SHA256SUMS.minisig | LC_ALL=C sort) >"$WORK/present"
  sed 's/^[0-9a-f]*  //' "$SRC/SHA256SUMS" | LC_ALL=C sort >"$WORK/listed"
  local extra
  extra=$(LC_ALL=C comm -23 "$WORK/present" "$WORK/listed" | head -n 10)
  [ -z "$extra" ] || die "$EXIT_TAMPERED" "REFUSED: files not in the signed SHA256SUMS (nothing was changed):
$extra"
  say "  signature and $(wc -l <"$SRC/SHA256SUMS") checksums OK (vomeet $VERSION)"
}

# --- preflight ----------------------------------------------------------------------------------
systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }
use_systemctl() { systemd_running && [ "$NO_START" = 0 ]; }

has_default_route() { awk 'NR > 1 && $2 == "00000000" { found = 1 } END { exit !found }' /proc/net/route 2>/dev/null; }

bundle_file() { find "$SRC/bundle" -maxdepth 1 -name 'vomeet-*.tar.zst' | head -n 1; }

preflight() {
  say "Preflight"
  local arch bundle need free
  # The bundle is named with Debian's architecture (amd64, arm64), as `make bundle` names it.
  arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
  bundle=$(bundle_file)
  [ -n "$bundle" ] || die "$EXIT_PREFLIGHT" "no bundle in $SRC/bundle"
  case "$bundle" in
    *"-linux-$arch.tar.zst"|*"-linux-$(uname -m).tar.zst") say "  architecture: $arch (matches the bundle)" ;;
    *) die "$EXIT_PREFLIGHT" "this image is for $(basename "$bundle" .tar.zst | sed 's/.*-linux-//'), the machine is $arch" ;;
  esac
  if systemd_running; then say "  systemd: running (PID 1)"
  elif command -v systemctl >/dev/null 2>&1; then say "  systemd: installed but not running here: units are installed and enabled, not started"
  else say "  systemd: not found: units are copied, start vomeet yourself"; fi
  # Room for the unpacked bundle (about 3x the archive) and the models, twice over for an upgrade.
  need=$(( ($(du -sk "$bundle" | cut -f1) * 3 + $(du -sk "$SRC/models" 2>/dev/null | cut -f1 || echo 0)) * 2 ))
  mkdir -p "$ROOT/opt" "$ROOT/var/lib"
  free=$(df -Pk "$ROOT/opt" | awk 'NR == 2 { print $4 }')
  [ "$free" -ge "$need" ] || die "$EXIT_PREFLIGHT" "not enough free disk under $ROOT/opt: ${free} KiB free, ${need} KiB needed"
  say "  free disk: $((free / 1024)) MiB (needs $((need / 1024)) MiB)"
  if has_default_route; then say "  default route: present"
  elif [ -d "$SRC/k3s" ]; then say "  default route: MISSING: k3s needs one; a blackhole route through dummy0 is added"
  else say "  default route: missing (fine without k3s; k3s would need one)"; fi
  if [ -e /proc/driver/nvidia/version ] || command -v nvidia-smi >/dev/null 2>&1; then
    say "  NVIDIA driver: present ($(head -n 1 /proc/driver/nvidia/version 2>/dev/null | sed 's/  */ /g' || echo nvidia-smi found))"
  else
    say "  NVIDIA driver: not found: speech recognition runs on the CPU"
  fi
}

# --- small idempotent steps ---------------------------------------------------------------------
passwd_id() {  # uid (field 3) or gid (field 4) of the service user in the target root
  awk -F: -v user="$SVC_USER" -v f="$1" '$1 == user { print $f }' "$ROOT/etc/passwd" 2>/dev/null
}

as_owner() { chown "$(passwd_id 3):$(passwd_id 4)" "$@"; }

put_file() {  # SOURCE TARGET MODE: copy when different
  local source=$1 target=$2 mode=$3
  if [ -f "$target" ] && cmp -s "$source" "$target"; then
    if [ "$(stat -c %a "$target")" != "$mode" ]; then chmod "$mode" "$target"; changed "mode of $target set to $mode"; fi
    return 0
  fi
  mkdir -p "$(dirname "$target")"
  install -m "$mode" "$source" "$target"
  changed "installed $target"
}

put_dir() {  # DIR MODE OWNER(root|service)
  local dir=$1 mode=$2 owner=$3 note=""
  [ -d "$dir" ] || { mkdir -p "$dir"; note="created"; }
  [ "$(stat -c %a "$dir")" = "$mode" ] || { chmod "$mode" "$dir"; note=${note:-"mode set:"}; }
  if [ "$owner" = service ] && [ "$(stat -c %u "$dir")" != "$(passwd_id 3)" ]; then
    as_owner "$dir"; note=${note:-"owner set:"}
  fi
  [ -z "$note" ] || changed "$note $dir (mode $mode, $owner)"
}

put_link() {  # TARGET LINK
  if [ "$(readlink "$2" 2>/dev/null || true)" != "$1" ]; then ln -sfn "$1" "$2"; changed "$2 -> $1"; fi
}

random_secret() { head -c 48 /dev/urandom | base64 -w 0 | tr -d '/+='; }  # about 62 characters

# --- install steps ------------------------------------------------------------------------------
install_user() {
  put_file "$SRC/systemd/vomeet.sysusers" "$SYSUSERS" 644
  [ -z "$(passwd_id 3)" ] || return 0
  mkdir -p "$ROOT/etc"
  if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers ${ROOT:+--root="$ROOT"} "$SYSUSERS"
  elif command -v useradd >/dev/null 2>&1; then
    useradd ${ROOT:+--root "$ROOT"} --system --user-group --home-dir /var/lib/vomeet --shell /usr/sbin/nologin \
      --comment "Vomeet appliance" "$SVC_USER"
    for group in video render; do
      grep -q "^$group:" "$ROOT/etc/group" || groupadd ${ROOT:+--root "$ROOT"} --system "$group"
      usermod ${ROOT:+--root "$ROOT"} -a -G "$group" "$SVC_USER"
    done
  else
    die "$EXIT_FAILED" "neither systemd-sysusers nor useradd is installed: cannot create the $SVC_USER user"
  fi
  [ -n "$(passwd_id 3)" ] || die "$EXIT_FAILED" "the $SVC_USER user was not created"
  changed "system user $SVC_USER (uid $(passwd_id 3))"
}

install_dirs() {
  put_file "$SRC/systemd/vomeet.tmpfiles" "$TMPFILES" 644
  put_dir "$DATA" 700 service
  put_dir "$DATA/models" 700 service
  put_dir "$DATA/backups" 700 service
  put_dir "$ETC" 750 root
  chgrp "$(passwd_id 4)" "$ETC"
  put_dir "$SECRETS" 750 root
  chgrp "$(passwd_id 4)" "$SECRETS"
}

install_settings() {
  # The release key, so that a later upgrade's stick must be signed by it too.
  printf 'untrusted comment: vomeet release key (install.sh)\n%s\n' "$SIGNING_PUBKEY" >"$WORK/release.pub"
  put_file "$WORK/release.pub" "$ETC/release.pub" 644
  if [ ! -f "$SECRETS/admin-api-key" ]; then
    (umask 077; random_secret >"$SECRETS/admin-api-key")
    as_owner "$SECRETS/admin-api-key"
    changed "admin API key created in $SECRETS/admin-api-key (mode 0600)"
  fi
  if [ ! -f "$ETC/vomeet.toml" ]; then
    cat >"$WORK/vomeet.toml" <<EOF
# Vomeet settings (docs/configuration.md lists them all). Written once by install.sh; your edits
# are kept by upgrades. The data directory is set by vomeet.service (/var/lib/vomeet).
port = 8056
admin_api_key_file = "/etc/vomeet/secrets/admin-api-key"
EOF
    install -m 640 "$WORK/vomeet.toml" "$ETC/vomeet.toml"
    chgrp "$(passwd_id 4)" "$ETC/vomeet.toml"
    changed "settings written to $ETC/vomeet.toml"
  fi
}

bundle_digest() { awk '$2 ~ /^bundle\/vomeet-.*\.tar\.zst$/ { print $1 }' "$SRC/SHA256SUMS"; }

install_bundle() {
  local target="$OPT/$VERSION" digest
  digest=$(bundle_digest)
  if [ -f "$target/.bundle-sha256" ] && [ "$(cat "$target/.bundle-sha256")" = "$digest" ]; then
    say "  bundle $VERSION already in $target"
  else
    rm -rf "$OPT/.unpack"
    mkdir -p "$OPT/.unpack"
    tar -C "$OPT/.unpack" --use-compress-program="$(tool zstd) -d" -xf "$(bundle_file)" \
      || die "$EXIT_FAILED" "cannot unpack $(bundle_file)"
    local top="$OPT/.unpack"
    # A bundle packed as one top-level folder (vomeet/...) is installed as that folder's content.
    if [ ! -e "$top/vomeet" ] || [ -d "$top/vomeet" ]; then
      [ "$(find "$top" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ] && top=$(find "$top" -mindepth 1 -maxdepth 1)
    fi
    if [ ! -f "$top/vomeet" ] || [ ! -x "$top/vomeet" ]; then die "$EXIT_FAILED" "the bundle has no vomeet executable"; fi
    rm -rf "$target"
    mv "$top" "$target"
    rm -rf "$OPT/.unpack"
    echo "$digest" >"$target/.bundle-sha256"
    changed "bundle $VERSION unpacked into $target"
  fi
  mkdir -p "$OPT/tools/lib"
  local file
  for file in minisign zstd; do put_file "$SRC/tools/$file" "$OPT/tools/$file" 755; done
  for file in "$SRC"/tools/lib/*; do [ -e "$file" ] && put_file "$file" "$OPT/tools/lib/$(basename "$file")" 644; done
}

activate() {  # VERSION: point current (and the vomeet command) at it
  put_link "$1" "$OPT/current"
  put_link current/vomeet "$OPT/vomeet"
}

install_models() {
  local dir name
  for dir in "$SRC"/models/*/; do
    [ -d "$dir" ] || continue
    name=$(basename "$dir")
    if [ -d "$DATA/models/$name" ] && diff -rq "$dir" "$DATA/models/$name" >/dev/null 2>&1; then continue; fi
    rm -rf "$DATA/models/.$name.new"
    cp -r "$dir" "$DATA/models/.$name.new"
    chown -R "$(passwd_id 3):$(passwd_id 4)" "$DATA/models/.$name.new"
    rm -rf "$DATA/models/$name"
    mv "$DATA/models/.$name.new" "$DATA/models/$name"
    changed "model $name in $DATA/models/$name"
  done
}

repo_version() { awk -v p="$1" '$1 == "Package:" { name = $2 } $1 == "Version:" && name == p { print $2; exit }' "$SRC/packages/Packages"; }

install_packages() {
  [ -f "$SRC/packages/Packages" ] || { say "  no offline packages on this image"; return 0; }
  local missing=() package
  while read -r package; do
    [ -n "$package" ] || continue
    if [ "$(dpkg-query ${ROOT:+--root="$ROOT"} -W -f '${Status} ${Version}' "$package" 2>/dev/null)" != "install ok installed $(repo_version "$package")" ]; then
      missing+=("$package")
    fi
  done <"$SRC/packages/WANTED"
  [ ${#missing[@]} -gt 0 ] || { say "  offline packages already installed"; return 0; }
  if [ -n "$ROOT" ]; then
    say "  --root: Debian packages ${missing[*]} are not installed (run install.sh inside that root)"
    return 0
  fi
  # apt with only the stick's repository as source, for this one command: the system's sources and
  # lists are untouched. [trusted=yes] is safe because the index and every .deb were checked
  # against the signed SHA256SUMS above.
  mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/archives/partial"
  echo "deb [trusted=yes] file:$SRC/packages ./" >"$WORK/apt/sources.list"
  local apt_opts=(-o "Dir::Etc::SourceList=$WORK/apt/sources.list" -o "Dir::Etc::SourceParts=$WORK/apt/none"
    -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache::archives=$WORK/apt/archives"
    -o "APT::Get::List-Cleanup=0" -o "Acquire::Languages=none" -o "APT::Sandbox::User=root")
  say "  installing ${missing[*]} and what they need from the stick's repository (apt; log kept on failure)"
  if ! { apt-get "${apt_opts[@]}" -q update && DEBIAN_FRONTEND=noninteractive \
      apt-get "${apt_opts[@]}" -y -q --no-install-recommends install "${missing[@]}"; } >"$WORK/apt.log" 2>&1; then
    tail -n 30 "$WORK/apt.log" >&2
    die "$EXIT_FAILED" "apt could not install ${missing[*]} from the offline repository $SRC/packages"
  fi
  changed "Debian packages installed: ${missing[*]} ($(grep -c '^Setting up' "$WORK/apt.log") packages set up)"
}

install_units() {  # [VERSION]: that version's units (kept beside its bundle), else the stick's
  local unit from="$SRC/systemd"
  if [ -n "${1:-}" ]; then
    from="$OPT/$1/.units"
  else  # kept so that a rollback to this version puts its own units back (Type= may differ)
    mkdir -p "$OPT/$VERSION/.units"
    for unit in "$SRC"/systemd/*.service; do put_file "$unit" "$OPT/$VERSION/.units/$(basename "$unit")" 644; done
  fi
  for unit in "$from"/*.service; do
    [ -f "$unit" ] || continue
    put_file "$unit" "$UNIT_DIR/$(basename "$unit")" 644
  done
  if use_systemctl; then
    systemctl daemon-reload
    systemctl is-enabled --quiet "$UNIT" || { systemctl enable --quiet "$UNIT"; changed "enabled $UNIT"; }
  elif command -v systemctl >/dev/null 2>&1; then
    systemctl --root="${ROOT:-/}" is-enabled --quiet "$UNIT" 2>/dev/null \
      || { systemctl --root="${ROOT:-/}" enable --quiet "$UNIT" 2>/dev/null && changed "enabled $UNIT"; } || true
  fi
}

# The unit's user and environment, for the commands run here (migrate, set-password, a trial
# serve) as one command line that execs the program (setpriv, env and vomeet replace each other:
# a signal sent to its PID reaches vomeet itself).
service_command() {
  SERVICE_CMD=(env HOME=/var/lib/vomeet VOMEET_DATA_DIR="$DATA" VOMEET_CONFIG_FILE="$ETC/vomeet.toml")
  if [ -f "$ETC/vomeet.env" ]; then
    while IFS= read -r line; do
      case "$line" in ''|'#'*) ;; *) SERVICE_CMD+=("$line") ;; esac
    done <"$ETC/vomeet.env"
  fi
  if [ -z "$ROOT" ] && [ "${1:-}" != as-root ]; then
    SERVICE_CMD=(setpriv --reuid="$SVC_USER" --regid="$SVC_USER" --init-groups "${SERVICE_CMD[@]}")
  else  # as root, or for a --root target (its user does not exist here; its key file is under it)
    SERVICE_CMD+=(VOMEET_ADMIN_API_KEY_FILE="$SECRETS/admin-api-key")
  fi
  SERVICE_CMD+=("$OPT/current/vomeet")
}

vomeet_as_service() { service_command; "${SERVICE_CMD[@]}" "$@"; }

migrate() {
  vomeet_as_service migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; return 1; }
}

first_admin() {  # only on a data directory this run created: never over an existing console
  local file="$SECRETS/console-admin-password" password
  [ "$FRESH_DATA" = 1 ] && [ ! -f "$file" ] || return 0
  password=$(random_secret)
  password=${password:0:20}  # cut here, not by a pipe into head (pipefail and SIGPIPE)
  vomeet_as_service admin set-password --username admin --password "$password" >"$WORK/admin.log" 2>&1 \
    || { cat "$WORK/admin.log" >&2; die "$EXIT_FAILED" "could not create the first console administrator"; }
  (umask 077; echo "$password" >"$file")
  changed "first console administrator: user admin, password in $file (mode 0600)"
}

install_k3s() {
  if [ ! -x "$SRC/k3s/k3s" ]; then
    say "  k3s: not on this image: bots run as local processes of vomeet serve"
    return 0
  fi
  if [ -n "$ROOT" ]; then say "  k3s: skipped in --root mode"; return 0; fi
  if ! has_default_route && ! command -v ip >/dev/null 2>&1; then
    say "  warning: no default route and no ip command (iproute2): add a default route before k3s starts"
  elif ! has_default_route; then  # k3s's air-gap guide: a default route, even a blackhole one (not kept over a reboot)
    ip link add dummy0 type dummy 2>/dev/null || true
    ip link set dummy0 up
    ip addr replace 203.0.113.254/31 dev dummy0
    ip route add default via 203.0.113.255 dev dummy0 metric 1000
    changed "blackhole default route via dummy0 (k3s needs a default route)"
  fi
  local before=$CHANGES images
  put_file "$SRC/k3s/k3s" /usr/local/bin/k3s 755
  for images in "$SRC"/k3s/k3s-airgap-images-*; do
    put_file "$images" "/var/lib/rancher/k3s/agent/images/$(basename "$images")" 644
  done
  # k3s's installer runs again only when the binary or images changed (its air-gap upgrade).
  if [ "$CHANGES" -gt "$before" ] || ! [ -f /etc/systemd/system/k3s.service ]; then
    local skip_start=""
    use_systemctl || skip_start=true
    INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_SKIP_START=$skip_start \
      INSTALL_K3S_EXEC="server --disable=traefik --write-kubeconfig-mode=0640 --write-kubeconfig-group=$SVC_USER" \
      sh "$SRC/k3s/install.sh" || die "$EXIT_FAILED" "k3s's install.sh failed"
    changed "k3s installed (air-gap: binary and images from the stick)"
  fi
}

# --- start, readiness ---------------------------------------------------------------------------
port() {
  local value
  value=$(sed -n 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$ETC/vomeet.toml" 2>/dev/null | head -n 1)
  echo "${value:-8056}"
}

setting() {  # NAME DEFAULT: a top-level value of vomeet.toml, quotes dropped
  local value
  value=$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\{0,1\}\([^\"#[:space:]]*\).*/\1/p" "$ETC/vomeet.toml" 2>/dev/null | head -n 1)
  echo "${value:-$2}"
}

ready() {  # GET /readyz on loopback with bash's /dev/tcp (a clean box has no curl)
  local status candidate
  # With TLS on (the default on a LAN box) the port speaks HTTPS and plain HTTP answers on the
  # loopback port (docs/tls.md); with it off, the port itself.
  for candidate in "$(setting loopback_port 8057)" "$(port)"; do
    # shellcheck disable=SC2016  # $1 is the inner shell's argument
    status=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && head -n 1 <&3' _ "$candidate" 2>/dev/null || true)
    case "$status" in "HTTP/1."?" 200"*) return 0 ;; esac
  done
  return 1
}

wait_ready() {  # [PID]: until /readyz answers 200, the timeout passes or PID dies
  local deadline=$((SECONDS + READY_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    ready && return 0
    if [ -n "${1:-}" ] && ! kill -0 "$1" 2>/dev/null; then return 1; fi
    sleep 1
  done
  return 1
}

start_and_check() {  # start (or restart) the service and wait for /readyz; 1 when not ready
  if use_systemctl; then
    systemctl restart "$UNIT" || return 1
    wait_ready
    return
  fi
  # No systemd to start it (a chroot, --no-start): a trial `serve` proves the version comes up.
  service_command
  "${SERVICE_CMD[@]}" serve >"$WORK/serve.log" 2>&1 &
  local pid=$! result=0 waited=0
  wait_ready "$pid" || result=1
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 60 ]; do sleep 1; waited=$((waited + 1)); done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ "$result" = 0 ] || tail -n 20 "$WORK/serve.log" >&2
  return "$result"
}

stop_service() {
  if use_systemctl && systemctl is-active --quiet "$UNIT"; then systemctl stop "$UNIT"; say "  stopped $UNIT"; fi
}

summary() {
  local address
  address=$(hostname -I 2>/dev/null | awk '{ print $1 }')
  say ""
  say "Vomeet $VERSION is installed in $OPT/current."
  local scheme=https
  [ "$(setting tls auto)" = off ] && scheme=http
  say "  Web console: $scheme://${address:-<this box>}:$(port)/ui   (API docs: /docs)"
  if [ "$scheme" = https ]; then  # made now if the service has not started yet (docs/tls.md)
    local fingerprint
    service_command
    fingerprint=$("${SERVICE_CMD[@]}" tls show 2>/dev/null | sed -n 's/^  fingerprint (SHA-256): //p' | head -n 1 || true)
    say "  Certificate fingerprint (SHA-256): ${fingerprint:-unknown, see \`vomeet tls show\`}"
    say "  The certificate is the box's own: compare that with what a browser or the desktop client shows (docs/tls.md)"
  fi
  if [ -f "$SECRETS/console-admin-password" ]; then
    say "  First administrator: user admin, password in $SECRETS/console-admin-password (root only)"
  fi
  say "  Admin API key: $SECRETS/admin-api-key"
  say "  Models in $DATA/models: $(find "$DATA/models" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f ' 2>/dev/null)(asr_model in vomeet.toml chooses; vomeet models list shows them)"
  if ! use_systemctl; then say "  Not started here (--no-start or no systemd): start it with: systemctl start $UNIT"; fi
}

# --- modes --------------------------------------------------------------------------------------
installed_version() { readlink "$OPT/current" 2>/dev/null || true; }

do_install() {
  local current
  current=$(installed_version)
  if [ -n "$current" ] && [ "$current" != "$VERSION" ]; then
    die "$EXIT_USAGE" "vomeet $current is installed; use --upgrade to move to $VERSION"
  fi
  say "Installing vomeet $VERSION${ROOT:+ into $ROOT}"
  FRESH_DATA=0
  [ -f "$DATA/vomeet.db" ] || FRESH_DATA=1
  install_user
  install_dirs
  install_settings
  install_bundle
  activate "$VERSION"
  install_models
  install_packages
  install_units
  migrate || die "$EXIT_FAILED" "database migration failed (log above); nothing was started"
  as_owner -R "$DATA"
  first_admin
  install_k3s
  if [ "$CHANGES" = 0 ]; then
    say "Already installed: vomeet $VERSION, nothing changed."
    return 0
  fi
  if use_systemctl; then
    systemctl restart "$UNIT"
    wait_ready || say "  warning: $UNIT is not ready yet (journalctl -u $UNIT)"
  fi
  summary
}

take_backup() {  # FILE: with the installed version's `vomeet backup`, when it has one
  if vomeet_as_service backup --help >/dev/null 2>&1; then
    vomeet_as_service backup "$1" >"$WORK/backup.log" 2>&1 || { cat "$WORK/backup.log" >&2; return 1; }
    say "  backup: $1"
  else
    say "  backup: vomeet $(installed_version) has no backup command; none taken"
    return 2
  fi
}

restore_backup() {  # FILE: as root (it puts the settings back into root-owned /etc/vomeet), then
  # the owners and modes the service needs are set again
  service_command as-root
  "${SERVICE_CMD[@]}" restore --replace "$1" >"$WORK/restore.log" 2>&1 || { cat "$WORK/restore.log" >&2; return 1; }
  as_owner -R "$DATA"
  chgrp "$(passwd_id 4)" "$ETC/vomeet.toml" && chmod 640 "$ETC/vomeet.toml"
  as_owner "$SECRETS/admin-api-key"
  say "  restored $1"
}

do_upgrade() {
  local from backup="" status=0
  from=$(installed_version)
  [ -n "$from" ] || die "$EXIT_NOTHING" "vomeet is not installed here; run install.sh without --upgrade"
  if [ "$from" = "$VERSION" ]; then
    say "Already at vomeet $VERSION: nothing to upgrade."
    return 0
  fi
  say "Upgrading vomeet $from -> $VERSION (data in $DATA is kept)"
  local before
  before=$(readlink "$OPT/previous" 2>/dev/null || true)
  FRESH_DATA=0
  stop_service
  backup="$DATA/backups/pre-upgrade-$from-to-$VERSION-$(date -u +%Y%m%dT%H%M%SZ).tar.gz"
  take_backup "$backup" || status=$?
  [ "$status" != 1 ] || die "$EXIT_FAILED" "the backup before the upgrade failed; nothing was changed (vomeet $from is still installed)"
  [ "$status" = 0 ] || backup=""
  install_user
  install_dirs
  install_settings
  install_bundle
  put_link "$from" "$OPT/previous"
  activate "$VERSION"
  printf 'from=%s\nto=%s\nbackup=%s\n' "$from" "$VERSION" "$backup" >"$STATE"
  install_models
  install_packages
  install_units
  if migrate && as_owner -R "$DATA" && start_and_check; then
    say "Upgraded to vomeet $VERSION; vomeet $from stays in $OPT/$from (install.sh --rollback returns to it)."
    summary
    return 0
  fi
  say "vomeet $VERSION did not become ready within ${READY_TIMEOUT}s: rolling back to $from"
  roll_back_to "$from" "$backup"
  # The failed version is removed and `previous` is what it was: --rollback still means $before.
  rm -rf "${OPT:?}/$VERSION"
  if [ -n "$before" ]; then put_link "$before" "$OPT/previous"; else rm -f "$OPT/previous"; fi
  exit "$EXIT_ROLLED_BACK"
}

roll_back_to() {  # VERSION BACKUP: the previous bundle, and the data as it was before the upgrade
  local to=$1 backup=$2 left
  left=$(installed_version)
  stop_service
  activate "$to"
  put_link "$left" "$OPT/previous"
  if [ -n "$backup" ] && [ -f "$backup" ]; then
    restore_backup "$backup" || die "$EXIT_FAILED" "could not restore $backup with vomeet $to; the data is as $left left it"
  else
    say "  no backup to restore: the data stays as vomeet $left left it"
  fi
  rm -f "$STATE"
  install_units "$to"
  if start_and_check; then say "Rolled back to vomeet $to."
  else die "$EXIT_FAILED" "vomeet $to did not become ready after the rollback either (journalctl -u $UNIT)"; fi
}

do_rollback() {
  local previous current backup=""
  current=$(installed_version)
  previous=$(readlink "$OPT/previous" 2>/dev/null || true)
  if [ -z "$previous" ] || [ ! -x "$OPT/$previous/vomeet" ]; then die "$EXIT_NOTHING" "no previous version to roll back to"; fi
  # The pre-upgrade backup belongs to the upgrade being undone only.
  if [ -f "$STATE" ] && grep -qx "to=$current" "$STATE" && grep -qx "from=$previous" "$STATE"; then
    backup=$(sed -n 's/^backup=//p' "$STATE")
  fi
  say "Rolling back vomeet $current -> $previous"
  roll_back_to "$previous" "$backup"
}

do_uninstall() {
  if [ ! -e "$OPT" ] && [ ! -f "$UNIT_DIR/$UNIT" ] && { [ "$PURGE" = 0 ] || { [ ! -e "$DATA" ] && [ ! -e "$ETC" ]; }; }; then
    say "vomeet is not installed: nothing to remove."
    return 0
  fi
  say "Uninstalling vomeet"
  if use_systemctl; then
    systemctl disable --now --quiet "$UNIT" 2>/dev/null || true
  elif command -v systemctl >/dev/null 2>&1; then
    systemctl --root="${ROOT:-/}" disable --quiet "$UNIT" 2>/dev/null || true
  fi
  rm -f "$UNIT_DIR/$UNIT" "$TMPFILES"
  use_systemctl && systemctl daemon-reload
  rm -rf "$OPT"
  say "  removed $OPT and $UNIT (the Debian packages Chromium and fonts stay: apt remove them if wanted)"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$DATA" "$ETC" "$SYSUSERS"
    if [ -n "$(passwd_id 3)" ]; then userdel ${ROOT:+--root "$ROOT"} "$SVC_USER" 2>/dev/null || say "  could not remove user $SVC_USER"; fi
    say "  purged $DATA, $ETC and the $SVC_USER user"
  else
    say "  kept the data in $DATA and the settings in $ETC (remove them with --uninstall --purge)"
  fi
}

[ "$MODE" = verify ] || [ "$(id -u)" = 0 ] || die "$EXIT_USAGE" "run install.sh as root"
case "$MODE" in
  verify) verify_image ;;
  install) verify_image; preflight; do_install ;;
  upgrade) verify_image; preflight; do_upgrade ;;
  rollback) do_rollback ;;
  uninstall) do_uninstall ;;
esac
}

main "$@"
