#!/usr/bin/env bash
# What `make run`, `make test` and CI need from the operating system, installed when missing.
#
# Checks for: MariaDB's server and client binaries (the local stack runs its own private
# server; Debian's *-core packages install no system service), Java >= 17 (Kafka), Maven (fetches
# Kafka's jars), venv support for $PYTHON, and make. Installs the missing ones with apt-get on
# Debian/Ubuntu, as root or through password-less sudo. Otherwise, or with
# DEVSTACK_NO_INSTALL=1, it installs nothing and stops, naming the exact command to run.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
missing=()   # what is missing, in words
apt=()       # the Debian/Ubuntu packages that provide it
brew=()      # the Homebrew formulas that provide it

need() { missing+=("$1"); apt+=($2); brew+=($3); }

# /usr/sbin is off the PATH of users other than root, and holds mariadbd.
has() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

java_major() {
    # `java -version` prints e.g. `openjdk version "17.0.15" 2025-04-15` (or "1.8.0_…").
    java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}

apt_candidate() { apt-cache show "$1" >/dev/null 2>&1; }

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "bootstrap: $PYTHON is missing or older than 3.11; set PYTHON=python3.11 (or newer)" >&2
    exit 1
fi
py_version="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"

# Server-core carries mariadbd and mariadb-install-db without the system service.
mariadb_server=mariadb-server-core
if command -v apt-cache >/dev/null && ! apt_candidate mariadb-server-core; then
    mariadb_server=mariadb-server
fi
if ! has mariadbd || ! has mariadb-install-db; then
    need "MariaDB server" "$mariadb_server" mariadb
fi
has mariadb || need "MariaDB client" mariadb-client-core mariadb
if ! has java || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
    need "Java 17 or newer" openjdk-17-jre-headless openjdk@17
fi
has mvn || need "Maven" maven maven
# Debian splits `python3 -m venv` (ensurepip) out of the interpreter's package.
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || need "venv for $PYTHON" "python$py_version-venv" ""
has make || need "make" make make

[ ${#missing[@]} -eq 0 ] && exit 0

what="$(IFS=,; echo "${missing[*]}" | sed 's/,/, /g')"
unique() { printf '%s\n' "$@" | awk 'NF && !seen[$0]++' | paste -sd' ' -; }

if command -v apt-get >/dev/null; then
    packages="$(unique "${apt[@]}")"
    install="apt-get update && apt-get install -y --no-install-recommends $packages"
    if [ "${DEVSTACK_NO_INSTALL:-}" != 1 ]; then
        as_root=()
        if [ "$(id -u)" -ne 0 ]; then
            sudo -n true 2>/dev/null && as_root=(sudo -n) || as_root=(none)
        fi
        if [ "${as_root[0]:-}" != none ]; then
            echo "bootstrap: installing $packages (for: $what)"
            export DEBIAN_FRONTEND=noninteractive
            "${as_root[@]}" apt-get update -qq
            # shellcheck disable=SC2086  # one word per package
            "${as_root[@]}" apt-get install -y -qq --no-install-recommends $packages >/dev/null
            exit 0
        fi
    fi
    echo "bootstrap: missing $what. Install it, then run make again:" >&2
    echo "    sudo sh -c '$install'" >&2
elif [ "$(uname -s)" = Darwin ]; then
    echo "bootstrap: missing $what. Install it with Homebrew, then run make again:" >&2
    echo "    brew install $(unique "${brew[@]}")" >&2
else
    echo "bootstrap: missing $what: install it with your system's package manager" >&2
    echo "    (Debian/Ubuntu packages: $(unique "${apt[@]}"))" >&2
fi
exit 1
