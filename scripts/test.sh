#!/usr/bin/env bash
# Sets up everything the tests need, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/services.sh  # a real Redis and PostgreSQL for the server tests
export ARKIT_TEST_REDIS="${ARKIT_TEST_REDIS:-redis://127.0.0.1:6379/15}"
export ARKIT_TEST_POSTGRES="${ARKIT_TEST_POSTGRES:-postgresql+psycopg://arkit:arkit@127.0.0.1:5432/arkit_test}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
