#!/bin/sh
# Installs the Graphviz `dot` program with the system's package manager.
set -e
if command -v dot >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq graphviz
elif command -v dnf >/dev/null 2>&1; then
    $SUDO dnf install -y graphviz
elif command -v brew >/dev/null 2>&1; then
    brew install graphviz
else
    echo "Please install Graphviz (https://graphviz.org/download/) so that 'dot' is on PATH." >&2
    exit 1
fi
