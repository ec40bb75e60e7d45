#!/bin/sh
# The Vast.ai provider through a real mount (tests/lib/cloud_run.sh says
# what is checked): the cheapest offer that fits, rented with the wrapper
# as the container's argv; an exited container is DELETEd, offers that
# vanish are no capacity, a forced outbid is the preemption.
. "$(dirname "$0")/lib.sh"
PROV=vastai
EMU_EXTRA=
CONF_EXTRA='"max_price_per_hour": 1, "image": "test/image:1"'
LAUNCH='PUT /api/v0/asks/'
PRICE=0.31
IMAGE=test/image:1
GONE="exists False"
CAPACITY=2
. "$TOP/tests/lib/cloud_run.sh"
