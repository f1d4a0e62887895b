#!/usr/bin/env bash
# Installs what the embedded defaults need from Debian/Ubuntu packages, only when missing:
# a Java 17+ runtime (Spark 4), unixODBC, the SQLite3 ODBC driver, psqlODBC and the
# PostgreSQL server (warehouse tests), and python3-venv. Idempotent; runs apt-get update at most once.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()

java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then missing+=(openjdk-17-jre-headless); fi
command -v odbcinst >/dev/null 2>&1 || missing+=(unixodbc)
dpkg -s unixodbc-dev >/dev/null 2>&1 || missing+=(unixodbc-dev)
odbcinst -q -d -n SQLite3 >/dev/null 2>&1 || missing+=(libsqliteodbc)
odbcinst -q -d -n "PostgreSQL Unicode" >/dev/null 2>&1 || missing+=(odbc-postgresql)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
# PostgreSQL server binaries: the warehouse tests start their own server on 127.0.0.1
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# Kerberos libraries that Microsoft's ODBC Driver 18 (from the mssql-python package) links against
dpkg -s libgssapi-krb5-2 >/dev/null 2>&1 || missing+=(libgssapi-krb5-2)
# Node.js for Azurite (the Azure Storage emulator the ADLS tests run against)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# A headless browser for the web UI test (driven by Playwright, never downloaded by it)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages: all present"
else
  echo "system packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  odbcinst -q -d -n SQLite3 >/dev/null || { echo "SQLite3 ODBC driver still not registered" >&2; exit 1; }
fi

# Azurite, pinned, under the checkout's .tools/ (3.37 runs on Node 18-20 despite declaring 22)
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools"
if [ ! -x "$tools/node_modules/.bin/azurite-blob" ]; then
  echo "azurite: installing into $tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" azurite@3.37.0 >/dev/null
fi
