"""CFP's Python step worker: runs Motia-style Python steps (`*_step.py`) against the CFP runtime.

Run it with `python -m cfp_worker --dir <project> --url ws://host:port/__cfp/worker` (token in
CFP_WORKER_TOKEN); `cfp dev` and `cfp start` do that for projects with Python steps.
"""

__version__ = "0.1.0"

from .errors import NonRetriableError, RetryAfterError  # noqa: E402

__all__ = ["NonRetriableError", "RetryAfterError", "__version__"]
