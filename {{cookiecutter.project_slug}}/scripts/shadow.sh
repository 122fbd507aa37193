#!/usr/bin/env bash
# Judge a version on traffic: run its image with prod answering and the version in shadow, smoke-test
# it, replay the test tickets (make replay), stop it and keep its decision log for `make decide`.
#   scripts/shadow.sh IMAGE [PROD_VERSION] [HOST] [OUT_DIR]
# IMAGE holds the version under judgement as its models/production and data/index (make image after
# make fetch-version). PROD_VERSION's files must be in releases/prod (make fetch-version); they are
# copied into the container, which works with a remote engine too (GitLab's Docker-in-Docker). Without
# PROD_VERSION (the first version) the image serves alone. HOST is where the engine publishes port 8000.
set -euo pipefail

IMAGE=${1:?usage: scripts/shadow.sh IMAGE [PROD_VERSION] [HOST] [OUT_DIR]}
PROD=${2:-}
HOST=${3:-127.0.0.1}
OUT=${4:-decisions}
publish=8000:8000
if [ "$HOST" = 127.0.0.1 ]; then publish=127.0.0.1:8000:8000; fi

# Every shadow call is made here (a high SHADOW_MAX_PENDING): the replay is the whole sample to judge.
args=(--name service --publish "$publish" --env DECISION_LOG=/tmp/decisions.jsonl --env SHADOW_MAX_PENDING=100000)
if [ -n "$PROD" ]; then
  args+=(--env MODEL_DIR=/srv/prod --env INDEX_DIR=/srv/prod/index --env ROLLOUT_MODE=shadow
         --env CANDIDATE_DIR=/app/models/production --env CANDIDATE_INDEX_DIR=/app/data/index)
fi
docker create "${args[@]}" "$IMAGE" > /dev/null
trap 'docker rm --force service > /dev/null 2>&1 || true' EXIT
if [ -n "$PROD" ]; then docker cp releases/prod service:/srv/prod; fi
docker start service > /dev/null
make smoke URL="http://$HOST:8000" || { docker logs service; exit 1; }
make replay URL="http://$HOST:8000"
docker stop --time 60 service > /dev/null  # the service finishes its shadow calls and writes its log
mkdir -p "$OUT"
docker cp service:/tmp/decisions.jsonl "$OUT/decisions.jsonl"
