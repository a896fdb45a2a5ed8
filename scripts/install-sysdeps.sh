#!/usr/bin/env bash
# Installs Debian packages that some tests use, when they are missing and this user can install them.
# Never fails the build: tests that need a missing program skip and print why.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "sysdeps: missing ${need[*]} (not root or no apt-get); the tests that need them will skip."
  exit 0
fi
echo "sysdeps: installing ${need[*]} ..."
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
  echo "sysdeps: could not install ${need[*]}; the tests that need them will skip."
fi
exit 0
