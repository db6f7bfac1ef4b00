#!/usr/bin/env bash
# Fetches Qwen2.5-Coder-1.5B-Instruct (default) or, with 0.5b, the smaller fallback into
# models/; see fetch-model.sh.
case "${1:-1.5b}" in
1.5b | 0.5b) exec "$(dirname "$0")/fetch-model.sh" "qwen-${1:-1.5b}" ;;
-h | --help) echo "usage: scripts/fetch-qwen.sh [1.5b|0.5b]   (see scripts/fetch-model.sh --help)" ;;
*)
  echo "scripts/fetch-qwen.sh: unknown size '$1'; usage: scripts/fetch-qwen.sh [1.5b|0.5b]" >&2
  exit 2
  ;;
esac
