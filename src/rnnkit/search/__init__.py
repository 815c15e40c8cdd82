"""Hyperparameter search with Optuna over the same config file a run uses.

The ``tune:`` section of a config names a search space of dotted config keys
(``train.optimizer.lr``, ``model.hidden_size``), a sampler (grid, random, TPE), a budget
of trials, the validation metric to optimise and a pruner. :func:`tune` runs the search
and writes a study directory::

    runs/<study>/
      study.journal      the Optuna storage, shared by every worker (unless --storage)
      config.yaml        the base config the trials start from
      trial-0000/ ...    one normal run directory per trial (rnnkit train's layout)
      trials.csv         every trial: parameters, metric, state, duration, reason
      best.yaml          the full config of the best trial, runnable with `rnnkit train`
      history.png        the metric of each trial and the best so far
      importances.png    parameter importances (once two trials completed with varied values)

How trials are shared. The study's storage holds a queue of trials: the launcher
tops the queue up to the budget (for a grid: one queued trial per grid point not run
yet; for random and TPE: empty trials the sampler fills in), and every worker claims
queued trials one at a time. Claiming a queued trial is atomic in the journal storage
and in server databases (PostgreSQL, MySQL), so K worker processes, or workers on other
machines pointed at the same storage, never run the same trial twice, a grid never runs
a point twice, and racing workers never overshoot the budget. (Two launchers topping up
the queue at the same instant can queue a grid point twice; the later copy stands down
when it is claimed.) Re-running the command tops up the same queue, so an interrupted
study continues where it stopped and a larger ``--trials`` adds trials.

Why a journal file and not SQLite by default: with several processes, SQLite lets two
workers claim the same queued trial (its SELECT ... FOR UPDATE is a plain SELECT) and
raises "database is locked" under contention (4 processes claiming 60 queued trials:
SQLite handed out 5 of them twice and raised 3 errors; the journal file none). The
journal serialises every write through a lock file. Any Optuna RDB URL
(``postgresql://...``, ``mysql://...``) works as ``--storage`` for workers on many
machines.
"""

from rnnkit.search.pruning import TrialPruning, train_trial
from rnnkit.search.space import check_space, grid_points, suggest
from rnnkit.search.storage import open_storage
from rnnkit.search.study import tune
from rnnkit.search.summary import StudySummary, TrialRow, summarize, trials_table

__all__ = [
    "StudySummary",
    "TrialPruning",
    "TrialRow",
    "check_space",
    "grid_points",
    "open_storage",
    "suggest",
    "summarize",
    "train_trial",
    "trials_table",
    "tune",
]
