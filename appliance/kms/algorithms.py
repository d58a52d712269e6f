"""Key types and signature algorithms, named as JOSE and step-kms-plugin name them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    PrivateKeyTypes,
    PublicKeyTypes,
)

from appliance.kms.errors import UnsupportedKeyOperation
from appliance.pki.keys import ML_DSA_PRIVATE_KEYS, ML_DSA_PUBLIC_KEYS, ml_dsa_set

RSA_SIZES = (2048, 3072, 4096)

ML_DSA = "ML-DSA"


class KeyType(enum.Enum):
    """The key pairs a backend may be asked to create."""

    EC_P256 = ("EC", "P-256", 256)
    EC_P384 = ("EC", "P-384", 384)
    RSA_2048 = ("RSA", None, 2048)
    RSA_3072 = ("RSA", None, 3072)
    RSA_4096 = ("RSA", None, 4096)
    ED25519 = ("OKP", "Ed25519", 256)
    #: FIPS 204 ML-DSA (pure, RFC 9881); the "curve" is the parameter set's name, the size its number.
    ML_DSA_44 = (ML_DSA, "ML-DSA-44", 44)
    ML_DSA_65 = (ML_DSA, "ML-DSA-65", 65)
    ML_DSA_87 = (ML_DSA, "ML-DSA-87", 87)

    @property
    def kty(self) -> str:
        return self.value[0]

    @property
    def curve(self) -> str | None:
        return self.value[1]

    @property
    def size(self) -> int:
        return self.value[2]

    @classmethod
    def parse(cls, kty: str = "EC", crv: str | None = None, size: int | None = None) -> KeyType:
        """``--kty/--crv/--size`` to a key type; defaults: P-256, RSA 3072, ML-DSA-65.
        ML-DSA is ``--kty ML-DSA`` (``--crv ML-DSA-44`` or ``--size 44`` picks the
        parameter set) or, shorter, ``--kty ML-DSA-44``."""
        kty = kty.upper()
        if kty.startswith(ML_DSA):
            return cls._parse_ml_dsa(kty, crv, size)
        if kty == "EC":
            crv = (crv or "P-256").upper()
            for member in (cls.EC_P256, cls.EC_P384):
                if member.curve == crv:
                    return member
            raise UnsupportedKeyOperation(f"unsupported EC curve '{crv}' (use P-256 or P-384)")
        if kty == "RSA":
            size = size or 3072
            for member in (cls.RSA_2048, cls.RSA_3072, cls.RSA_4096):
                if member.size == size:
                    return member
            raise UnsupportedKeyOperation(f"unsupported RSA size {size} (use 2048, 3072 or 4096)")
        if kty == "OKP":
            if (crv or "Ed25519").lower() != "ed25519":
                raise UnsupportedKeyOperation(f"unsupported OKP curve '{crv}' (use Ed25519)")
            return cls.ED25519
        raise UnsupportedKeyOperation(f"unsupported key type '{kty}' (use EC, RSA, OKP or ML-DSA)")

    @classmethod
    def _parse_ml_dsa(cls, kty: str, crv: str | None, size: int | None) -> KeyType:
        names = [name.upper() for name in (kty if kty != ML_DSA else None, crv) if name]
        if size is not None:
            names.append(f"{ML_DSA}-{size}")
        wanted = set(names or [f"{ML_DSA}-65"])
        for member in (cls.ML_DSA_44, cls.ML_DSA_65, cls.ML_DSA_87):
            if wanted == {member.curve}:
                return member
        raise UnsupportedKeyOperation(
            f"unsupported ML-DSA parameter set '{', '.join(sorted(wanted))}' (use ML-DSA-44, ML-DSA-65 or ML-DSA-87)")

    @classmethod
    def of(cls, key: PublicKeyTypes | PrivateKeyTypes) -> KeyType:
        """The key type of an existing public or private key."""
        if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
            return cls.parse("EC", {"secp256r1": "P-256", "secp384r1": "P-384"}.get(key.curve.name, key.curve.name))
        if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
            return cls.parse("RSA", size=key.key_size)
        if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
            return cls.ED25519
        number = ml_dsa_set(key)
        if number is not None:
            return cls.parse(ML_DSA, size=number)
        raise UnsupportedKeyOperation(f"unsupported key {type(key).__name__}")


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


@dataclass(frozen=True)
class SignatureAlgorithm:
    """A JOSE-named signature algorithm: ES256, RS256, PS256, EdDSA, ML-DSA-65 (the
    name draft-ietf-cose-dilithium gives pure ML-DSA with an empty context), ..."""

    name: str

    @property
    def family(self) -> str:
        if self.name.startswith(ML_DSA):
            return ML_DSA
        return "EdDSA" if self.name == "EdDSA" else self.name[:2]

    @property
    def hash(self) -> hashes.HashAlgorithm | None:
        """The hash the key signs a digest of; None for the algorithms that sign the whole message."""
        return None if self.family in ("EdDSA", ML_DSA) else _HASHES[self.name[2:]]()

    @classmethod
    def parse(cls, name: str) -> SignatureAlgorithm:
        if (name == "EdDSA" or (name[:2] in ("ES", "RS", "PS") and name[2:] in _HASHES)
                or name in (member.curve for member in KeyType if member.kty == ML_DSA)):
            return cls(name)
        raise UnsupportedKeyOperation(
            f"unsupported signature algorithm '{name}' (use ES256, ES384, RS256, PS256, EdDSA or ML-DSA-65)"
        )

    @classmethod
    def default_for(cls, key: PublicKeyTypes | PrivateKeyTypes) -> SignatureAlgorithm:
        """ES256/ES384 by curve, RS256 for RSA, EdDSA for Ed25519, ML-DSA-xx by parameter set."""
        key_type = KeyType.of(key)
        if key_type is KeyType.EC_P384:
            return cls("ES384")
        if key_type.kty == ML_DSA:
            return cls(str(key_type.curve))
        return cls({"EC": "ES256", "RSA": "RS256", "OKP": "EdDSA"}[key_type.kty])

    def check_key(self, key: PublicKeyTypes | PrivateKeyTypes) -> None:
        key_type = KeyType.of(key)
        if self.family == ML_DSA:
            if key_type.curve != self.name:
                raise UnsupportedKeyOperation(f"algorithm {self.name} does not fit a {key_type.curve or key_type.kty} key")
            return
        expected = {"ES": "EC", "RS": "RSA", "PS": "RSA", "EdDSA": "OKP"}[self.family]
        if key_type.kty != expected:
            raise UnsupportedKeyOperation(f"algorithm {self.name} does not fit a {key_type.kty} key")

    def sign(self, key: PrivateKeyTypes, data: bytes) -> bytes:
        """Sign ``data`` (ECDSA signatures are DER)."""
        self.check_key(key)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(self._digest_hash()))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, self.rsa_padding(), self._digest_hash())
        assert isinstance(key, (ed25519.Ed25519PrivateKey, *ML_DSA_PRIVATE_KEYS))
        return key.sign(data)

    def verify(self, key: PublicKeyTypes, signature: bytes, data: bytes) -> None:
        """Raise ``cryptography.exceptions.InvalidSignature`` unless it verifies."""
        self.check_key(key)
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(self._digest_hash()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, self.rsa_padding(), self._digest_hash())
        else:
            assert isinstance(key, (ed25519.Ed25519PublicKey, *ML_DSA_PUBLIC_KEYS))
            key.verify(signature, data)

    def _digest_hash(self) -> hashes.HashAlgorithm:
        """``hash`` for the ES/RS/PS families (``check_key`` has ruled out EdDSA and ML-DSA)."""
        hash_alg = self.hash
        if hash_alg is None:
            raise UnsupportedKeyOperation(f"algorithm {self.name} signs without a separate hash")
        return hash_alg

    def rsa_padding(self) -> padding.AsymmetricPadding:
        if self.family == "PS":
            assert self.hash is not None
            return padding.PSS(mgf=padding.MGF1(self.hash), salt_length=padding.PSS.DIGEST_LENGTH)
        return padding.PKCS1v15()
