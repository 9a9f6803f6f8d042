#!/usr/bin/env bash
# The command that shipped the crowd model v2.1 (its JSON names it): scripts/ship_model.sh crowd.
#   bash scripts/ship_crowd.sh RUN_DIR [FER2013_CSV] [FERPLUS_CSV]
exec bash "$(dirname "$0")/ship_model.sh" crowd "$@"
