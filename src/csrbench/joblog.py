"""Logging for workflow jobs: everything a job prints goes to its rule's `log:` file.

Snakemake runs `script:` adapters in-process with their own stdout/stderr; sending
both to the log keeps tqdm bars, warnings and tracebacks next to the job that made
them (and out of the terminal of a 40-job run).
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def job_log(path: str | Path) -> Iterator[logging.Logger]:
    """Redirect stdout, stderr and the `csrbench` logger to `path` for the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", buffering=1) as fh:
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("csrbench")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
            try:
                yield logger
            except BaseException:
                traceback.print_exc(file=fh)
                raise
            finally:
                logger.removeHandler(handler)
