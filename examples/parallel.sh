#!/bin/sh
# One job in N shards with GNU parallel, side by side on this machine or over ssh hosts; then one summary.
#
#   examples/parallel.sh N INPUT RESULTS [rasterpipe options ...]
#   examples/parallel.sh 4 inputs.ndjson results -o chips
#   SSHLOGIN=8/host1,8/host2 examples/parallel.sh 16 inputs.ndjson results -o s3://bucket/chips
#
# Shard K's records go to RESULTS/shard-K.ndjson and its --stats to RESULTS/shard-K.json; the job's
# summary (rasterpipe summarize) to RESULTS/summary.json. Exit status: the summary's (0 all ok or
# skipped, 1 some failed). Rerun one failed shard with `--shard K/N --skip-existing`, or everything
# that failed with `rasterpipe summarize --retry-list RESULTS/shard-*.ndjson`.
#
# Over hosts (SSHLOGIN, parallel's --sshlogin list): each host needs rasterpipe on its PATH and
# credentials in its environment (or pass them: PARALLEL='--env AWS_ACCESS_KEY_ID --env
# AWS_SECRET_ACCESS_KEY'); the input is copied to each host (--basefile) and the records come back
# (--return). Outputs should go to a store (-o s3://…): a local -o would stay on the hosts. Options
# are joined into one shell command by parallel, so quote a value with spaces twice ("'a b'").
set -u
if [ $# -lt 3 ]; then
  echo "usage: $0 N INPUT RESULTS [rasterpipe options ...]" >&2
  exit 2
fi
n=$1 input=$2 results=$3
shift 3
rasterpipe=${RASTERPIPE:-rasterpipe}
mkdir -p "$results"
# --halt never: a shard whose records failed (exit 1) does not stop the others.
parallel --halt never --sshlogin "${SSHLOGIN:-:}" --basefile "$input" \
  --return "$results/shard-{}.ndjson" --return "$results/shard-{}.json" --cleanup \
  mkdir -p "$results" '&&' "$rasterpipe" --no-progress --shard "{}/$n" --stats "$results/shard-{}.json" "$@" "$input" \
  '>' "$results/shard-{}.ndjson" ::: $(seq 1 "$n")
"$rasterpipe" summarize "$results"/shard-*.ndjson > "$results/summary.json"
