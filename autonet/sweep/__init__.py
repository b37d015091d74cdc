"""
A sweep directory holds::

    sweep.json       what was asked: mode, space, search seed, base config
    results.csv      one row per trial (pending / ok / diverged), rewritten
                     atomically after every finished trial
    best_model.npz   a copy of the best trial's model.npz (best.json: its row)
    heatmap.png      validation accuracy over (learning_rate, reg)
    trials/<name>/   one run directory per trial, as written by ``autonet train``

The space
---------
A mapping from :class:`~autonet.config.Config` option names (aliases such
as ``lr`` accepted; plus ``epochs``) to one of:

- a scalar: the value is fixed, e.g. ``num_iters = 1600``;
- a list: a grid iterates over it, a random search picks uniformly from it,
  e.g. ``reg = [1e-4, 1e-3, 1e-2]``; for ``hidden`` each entry is a size or
  the layer sizes of one trial (``[300, "1024,512"]`` or ``[300, [1024, 512]]``);
- ``{log_uniform = [low, high]}`` or ``{uniform = [low, high]}``: random search
  only. Scale parameters (learning rate, reg, std) want ``log_uniform``.
  Samples are rounded to 3 significant digits, integers (``num_iters``,
  ``batch_size``, ``hidden``) to the nearest integer.

``epochs = E`` sets ``num_iters = round(E * max(N_train // batch_size, 1))``.
On the command line, ``--grid KEY=V1|V2|...`` gives a list: values
separated by ``|``, each spelled as the value of its ``autonet train`` flag
(``--grid "hidden=300 | 1024,512"``: one layer of 300, then two layers).

The keys that shape the data (``data_dir``, ``num_val``, ``num_train``,
``dtype``) cannot be searched: a sweep loads the data once per process.

Trials and resuming
-------------------
A grid is the Cartesian product in the order the keys are given (the last key
varies fastest); a random search draws ``n`` points from a
``numpy.random.default_rng(seed)``, key by key in order, so the same space and
seed give the same trials. A trial is named after its searched values plus a
hash of its whole config (``data_dir`` excepted), e.g.
``lr=0.0016_reg=0.01-3fa2c1d9``. A trial whose run directory holds
``summary.json`` (finished) or ``diverged.json`` (non-finite loss) is not run
again, so re-running a sweep resumes it.

Executors
---------
Trials run one after another in this process, in ``jobs`` joblib worker
processes (BLAS threads per worker capped with threadpoolctl so that
``jobs * threads <= cores``), or on a Dask distributed cluster. All three call
:func:`run_trial` and hand its result to the same recorder. Each process loads
the data once (:func:`~autonet.sweep.runner.shared_data`); Dask workers read it from the config's
``data_dir`` (or their own ``$AUTONET_DATA``), which must exist on them, and
send the run directory's files back, so results land in the sweep directory
even without a shared file system.

Modules
-------
- :mod:`autonet.sweep.space` -- the value grammar: :class:`Dim`, :class:`Space`,
  space files and ``--grid`` flags, and the points of a space as named trials;
- :mod:`autonet.sweep.runner` -- :func:`run_trial` and the serial, joblib and
  Dask executors behind :func:`run_sweep`;
- :mod:`autonet.sweep.record` -- the sweep directory: its record (``sweep.json``),
  the results files (``results.csv``, ``best_model.npz``) and the text table.
"""

from autonet.sweep.record import SweepRecorder as SweepRecorder
from autonet.sweep.record import format_table as format_table
from autonet.sweep.runner import run_sweep as run_sweep
from autonet.sweep.runner import run_trial as run_trial
from autonet.sweep.space import Trial as Trial
from autonet.sweep.space import build_space as build_space
from autonet.sweep.space import load_space as load_space
from autonet.sweep.space import make_trials as make_trials
from autonet.sweep.space import parse_space as parse_space
from autonet.sweep.space import plan as plan
