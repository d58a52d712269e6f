"""A second SCEP client made of openssl commands, independent of the appliance's CMS code.

openssl makes the key, the CSR (with its challengePassword), the self-signed signer
certificate, the pkcsPKIEnvelope (``openssl cms -encrypt``), the SCEP signed attributes
(``openssl asn1parse -genconf``) and their signature (``openssl dgst -sign``); ``openssl
cms`` cannot add SCEP's attributes itself, so asn1crypto only wraps these parts in the
SignedData container. The answer is checked by ``openssl cms -verify`` and ``-decrypt``."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509

#: single DES lives in OpenSSL 3's legacy provider
LEGACY = ("-provider", "legacy", "-provider", "default")


def openssl(*args: str, cwd: Path, input: bytes | None = None) -> bytes:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, input=input, timeout=30)
    assert result.returncode == 0, f"openssl {' '.join(args)}: {result.stderr.decode()}"
    return result.stdout


@dataclass
class OpensslClient:
    work: Path
    cn: str = "openssl-client"
    key_bits: int = 2048

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        openssl("genrsa", "-out", "key.pem", str(self.key_bits), cwd=self.work)
        openssl("req", "-x509", "-new", "-key", "key.pem", "-subj", f"/CN={self.cn}", "-days", "1",
                "-out", "self.pem", cwd=self.work)

    def request(self, recipient: Path, challenge: str, *, cipher: str = "-aes256", digest: str = "sha256",
                message_type: str = "19", transaction_id: str | None = None, nonce: bytes | None = None,
                payload: bytes | None = None, signer: tuple[str, str] = ("key.pem", "self.pem")) -> bytes:
        """A pkiMessage (DER; a PKCSReq unless ``message_type``) encrypted to ``recipient`` (a
        PEM certificate): the CSR, or ``payload``; signed by ``signer`` (key, certificate)."""
        attributes = f"attributes = attrs\n[attrs]\nchallengePassword = {challenge}\n" if challenge else ""
        (self.work / "req.cnf").write_text(
            f"[req]\ndistinguished_name = dn\nprompt = no\n{attributes}[dn]\nCN = {self.cn}\n")
        openssl("req", "-new", "-key", "key.pem", "-config", "req.cnf", "-outform", "DER", "-out", "csr.der",
                cwd=self.work)
        if payload is not None:
            (self.work / "payload.der").write_bytes(payload)
        openssl("cms", "-encrypt", *LEGACY, "-binary", "-in", "csr.der" if payload is None else "payload.der", "-outform", "DER", "-out", "env.der", cipher,
                str(recipient), cwd=self.work)
        envelope = (self.work / "env.der").read_bytes()
        digest_hex = openssl("dgst", f"-{digest}", "-r", "env.der", cwd=self.work).split()[0].decode()
        transaction_id = transaction_id or os.urandom(8).hex()
        nonce_hex = (nonce or os.urandom(16)).hex()
        (self.work / "attrs.cnf").write_text("\n".join([
            "asn1=SET:attrs", "[attrs]", "a=SEQUENCE:ct", "b=SEQUENCE:md", "c=SEQUENCE:mt", "d=SEQUENCE:tid",
            "e=SEQUENCE:sn",
            "[ct]", "oid=OID:contentType", "val=SET:ctv", "[ctv]", "v=OID:pkcs7-data",
            "[md]", "oid=OID:messageDigest", "val=SET:mdv", "[mdv]", f"v=FORMAT:HEX,OCTETSTRING:{digest_hex}",
            "[mt]", "oid=OID:2.16.840.1.113733.1.9.2", "val=SET:mtv", "[mtv]", f"v=PRINTABLESTRING:{message_type}",
            "[tid]", "oid=OID:2.16.840.1.113733.1.9.7", "val=SET:tidv", "[tidv]",
            f"v=PRINTABLESTRING:{transaction_id}",
            "[sn]", "oid=OID:2.16.840.1.113733.1.9.5", "val=SET:snv", "[snv]", f"v=FORMAT:HEX,OCTETSTRING:{nonce_hex}",
            ""]))
        openssl("asn1parse", "-genconf", "attrs.cnf", "-out", "attrs.der", "-noout", cwd=self.work)
        openssl("dgst", f"-{digest}", "-sign", signer[0], "-out", "sig.bin", "attrs.der", cwd=self.work)
        return self._signed_data(envelope, digest, signer[1])

    def _signed_data(self, envelope: bytes, digest: str, signer_certificate: str) -> bytes:
        certificate = asn1_x509.Certificate.load(
            openssl("x509", "-in", signer_certificate, "-outform", "DER", cwd=self.work))
        attrs = cms.CMSAttributes.load((self.work / "attrs.der").read_bytes())
        signer = cms.SignerInfo({
            "version": "v1",
            "sid": {"issuer_and_serial_number": {"issuer": certificate.issuer,
                                                 "serial_number": certificate.serial_number}},
            "digest_algorithm": {"algorithm": digest},
            "signed_attrs": attrs,
            "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
            "signature": (self.work / "sig.bin").read_bytes(),
        })
        signed = cms.SignedData({
            "version": "v1", "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest})],
            "encap_content_info": {"content_type": "data", "content": envelope},
            "certificates": [certificate], "signer_infos": [signer],
        })
        return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()

    def read_reply(self, reply: bytes, root: Path, recipient: str = "self.pem") -> dict[str, str]:
        """``openssl cms -verify`` the CertRep under ``root``; its SCEP attributes (and
        ``certificate``: the path of the PEM certificate it carried, on SUCCESS, decrypted
        as ``recipient``: the certificate that signed the request)."""
        (self.work / "reply.der").write_bytes(reply)
        (self.work / "empty").write_bytes(b"")
        printed = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", "reply.der", cwd=self.work).decode()
        detached = ("-content", "empty") if "eContent: <ABSENT>" in printed else ()
        content = openssl("cms", "-verify", "-inform", "DER", "-in", "reply.der", "-CAfile", str(root),
                          "-purpose", "any", "-binary", *detached, cwd=self.work)
        printed = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", "reply.der", cwd=self.work).decode()
        fields = {name: _attribute(printed, oid) for name, oid in
                  (("messageType", "2.16.840.1.113733.1.9.2"), ("pkiStatus", "2.16.840.1.113733.1.9.3"),
                   ("failInfo", "2.16.840.1.113733.1.9.4"), ("transactionID", "2.16.840.1.113733.1.9.7"))}
        fields["recipientNonce"] = _octets(printed, "2.16.840.1.113733.1.9.6")
        if content:
            (self.work / "reply-env.der").write_bytes(content)
            openssl("cms", "-decrypt", *LEGACY, "-inform", "DER", "-in", "reply-env.der", "-inkey", "key.pem",
                    "-recip", recipient, "-out", "issued.p7", "-binary", cwd=self.work)
            openssl("pkcs7", "-inform", "DER", "-in", "issued.p7", "-print_certs", "-out", "issued.pem",
                    cwd=self.work)
            fields["certificate"] = str(self.work / "issued.pem")
        return fields


def _attribute(printed: str, oid: str) -> str:
    """The value of a signed attribute in ``openssl cms -cmsout -print`` output."""
    match = re.search(re.escape(oid) + r"\)\s*\n\s*set:\s*\n\s*[A-Z]+ ?STRING:(.*)", printed)
    return match.group(1).strip() if match else ""


def _octets(printed: str, oid: str) -> str:
    """The hex of an OCTET STRING attribute, from openssl's hex dump of it."""
    match = re.search(re.escape(oid) + r"\)\s*\n\s*set:\s*\n\s*OCTET STRING:\s*\n((?:\s*[0-9a-f]{4} - .*\n)+)", printed)
    if not match:
        return ""
    rows = (re.split(r"\s{3,}", line.split(" - ", 1)[1])[0] for line in match.group(1).splitlines())
    return "".join(row.replace("-", " ").replace(" ", "") for row in rows)
