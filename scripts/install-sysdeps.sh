#!/usr/bin/env bash
# Installs Debian packages that some tests use (Chromium for the HTML report, a PostgreSQL server for shared
# tuning studies, Orthanc with its DICOMweb plugin as the PACS of the dicom-node tests, dicom3tools' dciodvfy
# for the SR check), when they are missing and this user can install them.
# Outside CI a failure is only reported: the tests that need a missing program skip and print why.
# In CI (CI=true, as CI services set it) a program that is still missing afterwards fails the script, since
# those tests would fail anyway and the reason is clearer here.
set -u
in_ci() { case "${CI:-}" in "" | 0 | false | no | FALSE | False | NO) return 1 ;; *) return 0 ;; esac; }
missing() {
  local out=()
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || out+=(chromium)
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || out+=(postgresql)
  command -v Orthanc >/dev/null 2>&1 || out+=(orthanc)
  ls /usr/share/orthanc/plugins/libOrthancDicomWeb.so >/dev/null 2>&1 || out+=(orthanc-dicomweb)
  command -v dciodvfy >/dev/null 2>&1 || out+=(dicom3tools)
  echo "${out[@]}"
}
give_up() {
  if in_ci; then
    echo "sysdeps: error: $1 (CI=true: the browser, database and PACS tests need them)" >&2
    exit 1
  fi
  echo "sysdeps: $1; the tests that need them will skip."
  exit 0
}
read -r -a need <<<"$(missing)"
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  give_up "missing ${need[*]} and cannot install them (not root or no apt-get)"
fi
echo "sysdeps: installing ${need[*]} ..."
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
  give_up "could not install ${need[*]} with apt-get"
fi
read -r -a still <<<"$(missing)"
[ ${#still[@]} -eq 0 ] || give_up "still missing after apt-get: ${still[*]}"
exit 0
