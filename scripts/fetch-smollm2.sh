#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct into models/smollm2-135m-instruct/; see fetch-model.sh.
exec "$(dirname "$0")/fetch-model.sh" smollm2
