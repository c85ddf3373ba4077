#!/bin/sh
# An example worker: three nodes to fail over between, one handler per task type.
# The token needs the worker role:
#   taskctl token --secret "$JWT_SECRET" --user-id 50 --username worker-1 --role worker
export TASKCORE_TOKEN="${TASKCORE_TOKEN:?set TASKCORE_TOKEN to a worker token}"
exec taskcore worker \
  --server http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083 \
  --handler seo_keyword_analysis=exec:./analyse.py \
  --handler report_generation=exec:./report.sh \
  --handler data_export=sleep:2000 \
  --concurrency 8 \
  --shutdown-grace-seconds 30
