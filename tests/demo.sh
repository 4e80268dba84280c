#!/bin/sh
# make demo: both daemons on real guests, with the course monitors' output.
#  1. boots the test host (4 TCG guests) if it is not up;
#  2. vcpu_scheduler: all four busy vCPUs start pinned to pCPU 0 (course
#     scenario 1) and get balanced;
#  3. memory_coordinator: one guest consumes memory at 25 MB/s up to 1.5 GB
#     and releases it (course scenario 1) without ever hitting its OOM killer;
#  4. prints the measured summary; the guests stay up (make host-down stops them).
set -eu
cd "$(dirname "$0")/.."
echo "== starting the test host"
flock -o /tmp/aos-testhost.lock tests/host/up.sh
echo "== vcpu_scheduler 1 on course scenario 1 (monitor output follows)"
flock -o /tmp/aos-testhost.lock tests/scenarios/run.py --show \
    --out build/demo tests/scenarios/cpu-1.json
echo "== memory_coordinator 1 on course scenario 1 (monitor output follows)"
flock -o /tmp/aos-testhost.lock tests/scenarios/run.py --show --policy course \
    --out build/demo tests/scenarios/mem-1.json
echo "== done: logs, monitor output and decisions are in build/demo/"
