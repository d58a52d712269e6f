"""The file descriptor limit the CA needs: each worker is a process of its own
holding up to ``connections.maxConnectionsPerWorker`` connections plus its
database, KMS and listening sockets."""

from __future__ import annotations

import logging
import resource

from appliance.config.connections import ConnectionSettings

log = logging.getLogger("appliance.server")
MARGIN = 64  # per process: database connections, KMS sessions, listeners, logs, pipes


def descriptors_needed(settings: ConnectionSettings) -> int:
    """Descriptors one worker process may use."""
    return settings.max_connections_per_worker + MARGIN


def raise_descriptor_limit(settings: ConnectionSettings) -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (the workers
    inherit it); warn when that is less than a worker needs. The soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the file descriptor limit from %d: %s", soft, exc)
    needed = descriptors_needed(settings)
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning("the file descriptor limit is %d but a worker may need %d "
                    "(connections.maxConnectionsPerWorker %d + %d): raise LimitNOFILE or lower the cap",
                    soft, needed, settings.max_connections_per_worker, MARGIN)
    return soft
