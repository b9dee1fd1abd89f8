# Sourced by flake-finder.sh and ci-repeat.sh: their shared "-n RUNS -k BUSY_CORES" options.
# Sets runs and busy (defaults: $1 and 1), and shifted: how many arguments the options took.
parse_repeat_options() {
  local usage=$1 default_runs=$2 option
  shift 2
  runs=$default_runs busy=1
  OPTIND=1
  while getopts n:k: option; do
    case $option in
      n) runs=$OPTARG ;;
      k) busy=$OPTARG ;;
      *) echo "usage: $usage" >&2; exit 64 ;;
    esac
  done
  shifted=$((OPTIND - 1))
}
