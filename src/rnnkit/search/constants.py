"""Names shared by the parts of the search: logged metric names, heartbeats, trial attributes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    pass


log = logging.getLogger(__name__)


# metrics.json name -> the shorter name the LightningModules log during training.
LOGGED_NAMES = {"perplexity": "ppl"}

# A worker refreshes the heartbeat of its running trial this often; a running trial whose
# heartbeat is older than the grace period belongs to a worker that died (killed, machine
# lost) and is marked failed-and-retryable when the study is next launched.
HEARTBEAT_SECONDS = 30.0
HEARTBEAT_GRACE_SECONDS = 180.0

# Trial user attributes: where a trial's story is kept in the storage.
ATTR_RUN_DIR = "run_dir"
ATTR_REASON = "fail_reason"
ATTR_RETRY = "retry"  # failed because it was interrupted, not because of its parameters
ATTR_HEARTBEAT = "heartbeat"
