# Sourced by the results scripts. "${RUN[@]}" CMD runs CMD niced; with CPU=N set, also pinned to core N with a
# single-threaded XLA (two runs side by side, CPU=0 and CPU=1, gave the best throughput on the 2-core machine).
RUN=(nice -n 19)
if [ -n "${CPU:-}" ]; then
  export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
  RUN=(taskset -c "$CPU" nice -n 19)
fi

keep() {  # keep RUN_DIR KEPT_DIR [EXTRA_FILE...]: copy a finished run's config, evaluations, summary and meta (and
  # any extra files) to KEPT_DIR, which git tracks: runs/ does not outlive a session, results/ does. meta.json holds
  # the package versions and commit, so a run trained again that does not repeat its scores can be traced.
  local out=$1 kept=$2 file
  shift 2
  mkdir -p "$kept"
  for file in config.json eval.jsonl summary.json meta.json "$@"; do
    cp "$out/$file" "$kept/"
  done
}

finished() {  # finished RUN_DIR STEPS: the run's summary has reached STEPS
  [ -f "$1/summary.json" ] && python -c "import json,sys; sys.exit(json.load(open('$1/summary.json'))['step'] < $2)"
}
