#!/usr/bin/env bash
# bench/run.sh piece: scikit-learn peers (see peers_sklearn.py). usage: bench_sklearn.sh DATA_DIR REPS
exec /usr/bin/python3 "$(dirname "$0")/peers_sklearn.py" "$1" "${BENCH_PEER_REPS:-5}"
