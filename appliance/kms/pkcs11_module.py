"""PKCS#11 modules and tokens as the process sees them.

A PKCS#11 module has process-wide state: python-pkcs11 loads each library
once per process (``pkcs11.lib`` is a singleton) and the login state of a
token belongs to the whole application, not to a session. The objects here
mirror that state, so they are process-wide too (the one deliberate
exception to "no module-level singletons"):

* :class:`Module` - one loaded library and the lock that serialises every
  call into it. python-pkcs11 0.10 calls ``C_Initialize(NULL)``; by the
  PKCS#11 spec that promises the module no concurrent calls, and SoftHSM2
  turns its own locking off in response. Concurrent calls then crash the
  process or corrupt the token, so every device call holds ``Module.lock``.
* :class:`TokenSession` - one logged-in read/write session per token, shared
  by every key manager of the process and closed (logging the token out)
  when the last one releases it. Since calls are serialised, one session is
  all the throughput a module can give this process.

Faults heal (see :mod:`appliance.kms.faults`): :meth:`TokenSession.heal`
re-initialises the module (a token that was removed and returned is only seen
again after ``C_Initialize``), finds the token, opens a new session and logs
in again. Every other session of the module notices the new module
generation and re-opens itself before its next call.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import pkcs11
from pkcs11 import exceptions as p11

from appliance.errors import ErrorKind
from appliance.kms.errors import KeyNotFound, KmsAuthenticationFailed, KmsError
from appliance.kms.faults import Fault, KmsUnavailable
from appliance.pki.lane import DeviceLane

if TYPE_CHECKING:
    # ``pkcs11.lib`` is the function that loads a library (once per process); this is its result's class.
    from pkcs11._pkcs11 import lib as Pkcs11Library

_AUTH_ERRORS = (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange, p11.PinExpired, p11.PinLocked,
                p11.UserNotLoggedIn, p11.UserPinNotInitialized)


def device_error(what: str, exc: p11.PKCS11Error) -> KmsError | KmsAuthenticationFailed:
    """The domain error for a python-pkcs11 exception (its text holds no secret)."""
    if isinstance(exc, _AUTH_ERRORS):
        return KmsAuthenticationFailed(f"PKCS#11 {what}: the token refused the PIN ({type(exc).__name__})")
    return KmsError(f"PKCS#11 {what} failed: {type(exc).__name__} {exc}".rstrip())


@contextlib.contextmanager
def device_errors(what: str) -> Iterator[None]:
    """Turn python-pkcs11 exceptions into domain errors."""
    try:
        yield
    except p11.PKCS11Error as exc:
        raise device_error(what, exc) from None


@dataclass(eq=False)
class Module:
    """A loaded PKCS#11 library; hold ``lock`` around every call into it."""

    path: str
    lib: Pkcs11Library
    lock: threading.RLock = field(default_factory=threading.RLock)
    sessions: dict[int, TokenSession] = field(default_factory=dict)  # by slot id
    generation: int = 0  # counts re-initialisations: sessions opened before one are dead
    #: The one thread that runs the event loops' calls into this module (it serves one at a time).
    lane: DeviceLane = field(init=False)

    def __post_init__(self) -> None:
        self.lane = DeviceLane(f"pkcs11 {self.path}")

    def reinitialize(self) -> None:
        """``C_Finalize`` + ``C_Initialize``: every session handle is dead afterwards."""
        with self.lock:
            with device_errors(f"re-initialising module {self.path}"):
                self.lib.reinitialize()
            self.generation += 1


_modules: dict[str, Module] = {}
_modules_lock = threading.Lock()


def load_module(path: str) -> Module:
    """The process's :class:`Module` for a library path (loaded on first use)."""
    if not Path(path).is_file():
        raise KmsError(f"PKCS#11 module-path {path} does not exist", kind=ErrorKind.NOT_FOUND)
    real = os.path.realpath(path)  # python-pkcs11 keys its singleton by the string
    with _modules_lock:
        module = _modules.get(real)
        if module is None:
            with device_errors(f"loading module {path}"):
                module = Module(path=real, lib=pkcs11.lib(real))
            _modules[real] = module
        return module


@dataclass(frozen=True)
class TokenSelector:
    """Which token to use: by label, serial number and/or slot id (all given must match)."""

    label: str | None = None
    serial: str | None = None
    slot_id: int | None = None

    def __str__(self) -> str:
        parts = [f"label '{self.label}'"] if self.label is not None else []
        parts += [f"serial '{self.serial}'"] if self.serial is not None else []
        parts += [f"slot-id {self.slot_id}"] if self.slot_id is not None else []
        return " and ".join(parts)

    def matches(self, slot: pkcs11.Slot, token: pkcs11.Token) -> bool:
        return (
            (self.label is None or token.label == self.label)
            and (self.serial is None or token_serial(token) == self.serial)
            and (self.slot_id is None or slot.slot_id == self.slot_id)
        )


def token_serial(token: pkcs11.Token) -> str:
    """The token's serial number as text."""
    serial = token.serial
    return (serial.decode(errors="replace") if isinstance(serial, bytes) else str(serial)).strip()


def _find_token(module: Module, selector: TokenSelector) -> pkcs11.Token:
    with device_errors("listing tokens"):
        for slot in module.lib.get_slots(token_present=True):
            token = slot.get_token()
            if selector.matches(slot, token):
                return token
    raise KeyNotFound(f"no PKCS#11 token with {selector} in module {module.path}")


def _pin_digest(pin: str, salt: bytes) -> bytes:
    return hashlib.sha256(salt + pin.encode()).digest()


@dataclass(eq=False)
class TokenSession:
    """The process's logged-in session on one token, shared and reference-counted."""

    module: Module
    token: pkcs11.Token
    session: pkcs11.Session
    selector: TokenSelector
    _pin: str = field(repr=False)  # kept to log in again after a fault
    _salt: bytes = field(repr=False)
    _pin_digest: bytes = field(repr=False)
    _users: int = 1
    generation: int = 0  # counts re-opened sessions: object handles found before one are dead
    _module_generation: int = 0

    @classmethod
    def acquire(cls, module: Module, selector: TokenSelector, pin: str | None) -> TokenSession:
        """Log in to the selected token, or join the session already logged in."""
        with module.lock:
            token = _find_token(module, selector)
            shared = module.sessions.get(token.slot.slot_id)
            if shared is not None:
                shared._check_pin(pin)
                shared._users += 1
                return shared
            if pin is None:
                raise KmsAuthenticationFailed(
                    f"PKCS#11 token '{token.label}' needs a PIN: pin-value, pin-source or --password-file"
                )
            with device_errors(f"login to token '{token.label}'"):
                session = token.open(rw=True, user_pin=pin)
            salt = secrets.token_bytes(16)
            shared = cls(module, token, session, selector, pin, salt, _pin_digest(pin, salt),
                         _module_generation=module.generation)
            module.sessions[token.slot.slot_id] = shared
            return shared

    def _check_pin(self, pin: str | None) -> None:
        """A second user of a logged-in token must know the PIN the token accepted."""
        if pin is None or not hmac.compare_digest(_pin_digest(pin, self._salt), self._pin_digest):
            raise KmsAuthenticationFailed(f"PKCS#11 login to token '{self.token.label}': wrong PIN")

    def _check_open(self) -> None:
        """Under the module lock: refuse when closed; re-open after another session's heal."""
        if self._users <= 0:
            raise KmsError("the PKCS#11 key manager is closed")
        if self._module_generation != self.module.generation:
            self._reopen()

    @contextlib.contextmanager
    def use(self, what: str) -> Iterator[pkcs11.Session]:
        """The session, with the module lock held and device errors translated."""
        with self.module.lock, device_errors(what):
            self._check_open()
            yield self.session

    def call(self, what: str, operation: Callable[[bytes], bytes], data: bytes) -> bytes:
        """``operation(data)`` as :meth:`use` runs it, without a generator context
        manager: the signing path, where the lock holder's every GIL-held
        microsecond keeps the device idle for all other callers."""
        with self.module.lock:
            try:
                if self._module_generation != self.module.generation or self._users <= 0:
                    self._check_open()
                return operation(data)
            except p11.PKCS11Error as exc:
                raise device_error(what, exc) from None

    def _reopen(self) -> None:
        """Under the module lock: find the token again, open a session, log in."""
        if self._module_generation == self.module.generation:
            with contextlib.suppress(p11.PKCS11Error):
                self.session.close()  # only while its handle cannot belong to a newer session
        try:
            token = _find_token(self.module, self.selector)
        except KeyNotFound as exc:
            raise KmsUnavailable(exc.message, fault=Fault.DEVICE) from None
        with device_errors(f"login to token '{token.label}'"):
            session = token.open(rw=True, user_pin=self._pin)
        if self.module.sessions.get(self.token.slot.slot_id) is self:
            del self.module.sessions[self.token.slot.slot_id]
        self.module.sessions[token.slot.slot_id] = self
        self.token, self.session = token, session
        self._module_generation = self.module.generation
        self.generation += 1

    def heal(self, seen_generation: int) -> None:
        """After a fault seen on session ``seen_generation``: re-initialise the module
        and log in again, unless another caller has healed the session meanwhile."""
        with self.module.lock:
            if self._users <= 0:
                raise KmsError("the PKCS#11 key manager is closed")
            if self.generation != seen_generation:
                return
            self.module.reinitialize()
            self._reopen()

    def release(self) -> None:
        """Drop one user; the last one closes the session and logs the token out."""
        with self.module.lock:
            if self._users <= 0:
                return
            self._users -= 1
            if self._users == 0:
                del self.module.sessions[self.token.slot.slot_id]
                with contextlib.suppress(p11.PKCS11Error):
                    self.session.close()
