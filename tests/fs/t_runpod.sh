#!/bin/sh
# The RunPod provider through a real mount (tests/lib/cloud_run.sh says
# what is checked): pods of the config's gpu_types, the cheapest first; a
# pod outlives its container, so "gone" is DELETEd, not EXITED.
. "$(dirname "$0")/lib.sh"
PROV=runpod
EMU_EXTRA=
CONF_EXTRA='"gpu_types": [{"id": "NVIDIA GeForce RTX 4090", "price_per_hour": 0.34,
   "cloud_type": "COMMUNITY"},
  {"id": "NVIDIA A100 80GB PCIe", "price_per_hour": 1.64, "cloud_type": "SECURE"}],
 "image": "test/image:1"'
LAUNCH='POST /v1/pods '
PRICE=0.34
IMAGE=test/image:1
GONE="exists False"
CAPACITY=8
. "$TOP/tests/lib/cloud_run.sh"
