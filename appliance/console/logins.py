"""``console.login`` audit records: the first request of an admin's or viewer's certificate,
then at most once an hour per certificate and worker process (who: the certificate's
subject and serial, the name it was let in by, the role, the method ``mtls``; nothing
secret). A login through an OpenID provider is recorded once, when it succeeds (method
``oidc``), or as ``console.login.refused`` with the reason."""

from __future__ import annotations

import datetime
import threading
from typing import Callable

from appliance.audit import AuditSink
from appliance.console.access import ADMIN, MTLS, VIEWER, Visitor

INTERVAL = datetime.timedelta(hours=1)


class LoginRecorder:
    """Records a visitor's login in ``audit`` unless this process did in the last ``INTERVAL``."""

    def __init__(self, audit: AuditSink, clock: Callable[[], datetime.datetime]) -> None:
        self._audit = audit
        self._clock = clock
        self._recorded: dict[str, datetime.datetime] = {}  # serial -> when
        self._lock = threading.Lock()

    def seen(self, visitor: Visitor) -> None:
        if visitor.role not in (ADMIN, VIEWER) or visitor.method != MTLS:
            return
        now = self._clock()
        with self._lock:
            last = self._recorded.get(visitor.serial)
            if last is not None and now - last < INTERVAL:
                return
            self._recorded = {serial: at for serial, at in self._recorded.items() if now - at < INTERVAL}
            self._recorded[visitor.serial] = now
        try:
            self._audit.record("console.login", {"actor": visitor.name, "role": visitor.role, "method": "mtls",
                                                 "subject": visitor.subject, "serial": visitor.serial})
        except BaseException:
            with self._lock:  # not recorded: the next request tries again
                self._recorded.pop(visitor.serial, None)
            raise
