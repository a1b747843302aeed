"""One ACME account and its orders, on the `acme` library (certbot's): register, prove each name, finalize, fetch the chain.

The `acme` library is synchronous (requests), so every method here blocks and is meant to run
in a worker thread (`asyncio.to_thread`), never on the event loop. Each step logs one line.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import josepy as jose
import orjson
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .. import __version__
from .acme_settings import LETS_ENCRYPT, AcmeSettings
from .challenges import ChallengeBoard
from .state import write_atomic
from .store import AcmeStore

log = logging.getLogger("litecursor.acme")

__all__ = ["LETS_ENCRYPT", "AcmeError", "AcmeOrders", "AcmeSettings", "Issued"]

#: how long one order may take from the first challenge answer to the certificate
ORDER_DEADLINE = dt.timedelta(seconds=120)


class AcmeError(Exception):
    """An order or account step failed; `str()` is one line saying which and why."""


@dataclass(frozen=True, slots=True)
class Issued:
    fullchain_pem: bytes
    key_pem: bytes


class _TLSALPN01Response(challenges.ChallengeResponse):
    """The (empty) answer that starts a tls-alpn-01 validation. The `acme` library dropped
    tls-alpn-01 support, and the answer is `{}` for every key-authorization challenge."""

    typ = "tls-alpn-01"

    def __bool__(self) -> bool:
        # a fieldless object has length 0, and the library sends a falsy payload as an
        # empty POST-as-GET, which reads the challenge instead of answering it
        return True


def _new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _kind(challb: messages.ChallengeBody) -> str:
    """The challenge's type; one the library does not know keeps it in its JSON."""
    chall = challb.chall
    if isinstance(chall, challenges.UnrecognizedChallenge):
        return str(chall.jobj.get("type", "unknown"))
    return str(chall.typ)


def _problem(err: BaseException) -> str:
    """An ACME failure as one line, without the library's repr noise."""
    if isinstance(err, errors.ValidationError):
        parts = []
        for authzr in err.failed_authzrs:
            name = authzr.body.identifier.value
            for chall in authzr.body.challenges:
                if chall.error is not None:
                    parts.append(f"{name}: {_kind(chall)} failed: {_problem(chall.error)}")
        return "; ".join(parts) or "validation failed"
    if isinstance(err, messages.Error):
        text = err.detail or err.description or err.typ
        return f"{text} ({err.code or err.typ})"
    if isinstance(err, errors.TimeoutError):
        return "the CA did not finish in time"
    return " ".join(str(err).split()) or type(err).__name__


class AcmeOrders:
    """Places orders with one ACME directory, as one account kept in the store."""

    def __init__(self, settings: AcmeSettings, store: AcmeStore, board: ChallengeBoard) -> None:
        self.settings = settings
        self.store = store
        self.board = board
        self._client: client.ClientV2 | None = None
        self._key: jose.JWKEC | None = None

    # --- account -----------------------------------------------------------------------------

    def _account_key(self) -> jose.JWKEC:
        path = self.store.account_key
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise AcmeError(f"{path}: the account key is not an EC key")
        else:
            key = _new_ec_key()
            write_atomic(path, _pem(key), 0o600)
            log.info("acme: created an account key in %s", path)
        return jose.JWKEC(key=key)

    def _connect(self) -> client.ClientV2:
        if self._client is not None:
            return self._client
        self._key = self._account_key()
        net = client.ClientNetwork(
            self._key, alg=jose.ES256, user_agent=f"litecursor/{__version__}"
        )
        if self.settings.ca_bundle:
            # requests' `verify` takes a CA bundle path as well as a bool
            net.verify_ssl = self.settings.ca_bundle  # type: ignore[assignment]
        try:
            directory = client.ClientV2.get_directory(self.settings.directory, net)
        except Exception as e:
            raise AcmeError(
                f"cannot read the ACME directory {self.settings.directory}: {_problem(e)}"
            ) from e
        acme = client.ClientV2(directory, net)
        stored = self._stored_account()
        if stored:
            net.account = messages.RegistrationResource(uri=stored, body=messages.Registration())
        else:
            self._register(acme)
        self._client = acme
        return acme

    def _stored_account(self) -> str | None:
        path = self.store.account_info
        if not path.exists():
            return None
        info = orjson.loads(path.read_bytes())
        uri = info.get("uri")
        return (
            uri
            if isinstance(uri, str) and info.get("directory") == self.settings.directory
            else None
        )

    def _register(self, acme: client.ClientV2) -> None:
        email = self.settings.email
        registration = messages.NewRegistration.from_data(email=email, terms_of_service_agreed=True)
        try:
            regr = acme.new_account(registration)
            uri = regr.uri
            what = "registered a new account"
        except errors.ConflictError as e:  # this key already has an account: use it
            uri = e.location
            acme.net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
            what = "found the existing account"
        except Exception as e:
            raise AcmeError(f"account registration failed: {_problem(e)}") from e
        info = {"uri": uri, "directory": self.settings.directory, "email": email}
        write_atomic(self.store.account_info, orjson.dumps(info, option=orjson.OPT_INDENT_2))
        terms = getattr(acme.directory.meta, "terms_of_service", None)
        log.info(
            "acme: %s %s (%s)%s", what, uri, email or "no contact email",
            f"; agreed to {terms}" if terms else "",
        )  # fmt: skip

    # --- orders --------------------------------------------------------------------------------

    def order(self) -> Issued:
        """Order a certificate for the settings' domains with a new key; blocks."""
        try:
            return self._order()
        except messages.Error as e:
            if (
                e.code not in ("accountDoesNotExist", "unauthorized")
                or not self.store.account_info.exists()
            ):
                raise AcmeError(f"order failed: {_problem(e)}") from e
            # the CA forgot the stored account (a test CA restarted, an account deactivated)
            log.warning(
                "acme: the CA does not know the stored account (%s); registering again", _problem(e)
            )
            self.store.account_info.unlink()
            self._client = None
        try:
            return self._order()
        except (messages.Error, errors.Error) as e:
            raise AcmeError(f"order failed: {_problem(e)}") from e

    def _order(self) -> Issued:
        domains = list(self.settings.domains)
        acme = self._connect()
        key = _new_ec_key()
        key_pem = _pem(key)
        csr = crypto_util.make_csr(key_pem, domains)
        log.info(
            "acme: ordering a certificate for %s from %s",
            ", ".join(domains),
            self.settings.directory,
        )
        try:
            orderr = acme.new_order(csr)
        except errors.Error as e:
            raise AcmeError(f"new order for {', '.join(domains)} refused: {_problem(e)}") from e
        published: list[tuple[str, str, str]] = []
        try:
            for authzr in orderr.authorizations:
                name = authzr.body.identifier.value
                if authzr.body.status == messages.STATUS_VALID:
                    log.info("acme: %s: already authorized, no challenge needed", name)
                    continue
                kind, challb, token, response = self._choose(authzr)
                self.board.publish(kind, name, token, self._key_authorization(token))
                published.append((kind, name, token))
                log.info("acme: %s: answering the %s challenge", name, kind)
                acme.answer_challenge(challb, response)
            deadline = dt.datetime.now() + ORDER_DEADLINE  # the library compares naive times
            try:
                orderr = acme.poll_authorizations(orderr, deadline)
            except errors.Error as e:
                raise AcmeError(f"validation failed: {_problem(e)}") from e
            log.info("acme: %s: validated; finalizing the order", ", ".join(domains))
            try:
                orderr = acme.finalize_order(orderr, deadline)
            except errors.Error as e:
                raise AcmeError(f"finalizing failed: {_problem(e)}") from e
        finally:
            for kind, name, token in published:
                self.board.withdraw(kind, name, token)
        if not orderr.fullchain_pem:
            raise AcmeError("the CA sent no certificate")
        return Issued(orderr.fullchain_pem.encode(), key_pem)

    def _choose(
        self, authzr: messages.AuthorizationResource
    ) -> tuple[str, messages.ChallengeBody, str, challenges.ChallengeResponse]:
        offered = {_kind(c): c for c in authzr.body.challenges}
        for kind in self.board.types():
            challb = offered.get(kind)
            if challb is None:
                continue
            chall: Any = challb.chall
            if kind == "http-01":
                return kind, challb, chall.encode("token"), chall.response(self._key)
            return kind, challb, str(chall.jobj["token"]), _TLSALPN01Response()
        name = authzr.body.identifier.value
        raise AcmeError(
            f"{name}: the CA offers {', '.join(sorted(offered)) or 'no challenge'}; this gateway "
            f"can answer {', '.join(self.board.types()) or 'none (no --http-port and no TLS)'}"
        )

    def _key_authorization(self, token: str) -> str:
        assert self._key is not None  # set by _connect
        thumbprint = self._key.thumbprint(hash_function=hashes.SHA256)
        return f"{token}.{jose.b64encode(thumbprint).decode()}"

    # --- renewal information (ARI, RFC 9773) ---------------------------------------------------

    def renewal_window(self, cert_pem: bytes) -> tuple[dt.datetime | None, dt.datetime]:
        """(when the CA suggests renewing, or None when it has no ARI; when to ask again)."""
        acme = self._connect()
        try:
            when, ask_again = acme.renewal_time(cert_pem)
        except errors.ARIError as e:
            log.warning("acme: renewal information unavailable: %s", _problem(e.__cause__ or e))
            return None, _aware(e.retry_after)
        return (None if when is None else _aware(when)), _aware(ask_again)


def _aware(moment: dt.datetime) -> dt.datetime:
    # the library mixes naive local times with aware ones
    return moment.astimezone(dt.UTC)
