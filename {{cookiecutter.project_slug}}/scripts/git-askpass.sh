#!/bin/sh
# GIT_ASKPASS for CI jobs that push: git (and DVC, for `dvc exp push`) ask it for a user name and a
# password, and it answers from the environment (GIT_USERNAME, GIT_TOKEN). It holds no secret, and
# the token is never written to .git/config.
case "$1" in
  Username*) printf '%s\n' "${GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\n' "${GIT_TOKEN:?GIT_TOKEN is not set}" ;;
esac
