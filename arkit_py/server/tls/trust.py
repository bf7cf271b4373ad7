"""The trust page (``/trust``): what each device needs to install the local CA once, and
the CA in the two forms devices accept (PEM and DER).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from .authority import CA, fingerprint


def trust_page_info(ca: CA) -> dict:
    """What the trust page shows and serves for ``ca``.

    ``fingerprint`` (SHA-256, colon hex, as Android, iOS and macOS show it),
    ``fingerprint_sha1`` (what Windows calls the thumbprint), ``subject`` (the common name),
    ``not_after`` (``YYYY-MM-DD`` UTC), ``pem`` and ``der`` (bytes, for download: ``.pem``
    for Linux and Firefox, ``.crt`` = DER for Android, iOS, Windows and macOS).
    """
    cert = ca.cert
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return {
        "fingerprint": ca.fingerprint,
        "fingerprint_sha1": fingerprint(cert, hashes.SHA1()),
        "subject": str(cn[0].value) if cn else cert.subject.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.date().isoformat(),
        "pem": ca.cert_pem,
        "der": cert.public_bytes(serialization.Encoding.DER),
    }


DEVICE_STEPS: dict[str, str] = {
    "Android": (
        "Download the .crt file from this page. Open Settings and search for \"CA certificate\" (usually "
        "Security > More security settings > Encryption and credentials > Install a certificate > "
        "CA certificate), tap Install anyway and choose the downloaded file; the phone needs a screen lock. "
        "Check that the SHA-256 fingerprint matches the one on this page. Chrome then trusts this server."
    ),
    "iPhone/iPad": (
        "Open this page in Safari and download the .crt file; allow the profile download. Open Settings > "
        "General > VPN & Device Management, choose the downloaded profile and tap Install. Then turn on full "
        "trust for it in Settings > General > About > Certificate Trust Settings; without this last step "
        "Safari still refuses the server."
    ),
    "Windows": (
        "Download the .crt file and open it. Choose Install Certificate > Current User > Place all "
        "certificates in the following store > Browse > Trusted Root Certification Authorities > Finish, and "
        "accept the warning (Windows shows the SHA-1 thumbprint, not the SHA-256 fingerprint). Edge and Chrome then "
        "trust this server; Firefox may need the same file imported under Settings > Privacy & Security > "
        "Certificates > View Certificates > Authorities."
    ),
    "macOS": (
        "Download the .crt file and double-click it to add it to the login keychain. In Keychain Access, "
        "open the certificate, expand Trust, set When using this certificate to Always Trust, close the "
        "window and confirm with your password. Safari and Chrome then trust this server."
    ),
    "Linux/Chrome": (
        "Download the .pem file. In Chrome open chrome://certificate-manager (older versions: Settings > "
        "Privacy and security > Security > Manage certificates > Authorities), import the file and allow it "
        "to identify websites. Command-line tools use the system store instead: on Debian or Ubuntu copy the "
        ".pem file to /usr/local/share/ca-certificates/arkit-ca.crt and run sudo update-ca-certificates."
    ),
    "Meta Quest": (
        "The Quest browser offers no simple way to trust your own certificate authority. Either give the "
        "server a real certificate for a domain name you own that points at this computer (--tls CERT,KEY), "
        "or, for a single headset, turn on developer mode, connect it by USB, run adb reverse "
        "tcp:PORT tcp:PORT with the port of a plain-http server on this computer, and open http://localhost:PORT "
        "in the headset (localhost counts as secure)."
    ),
    "HoloLens 2": (
        "Download the .crt file in Edge. Open Settings > Update & Security > Certificates > Install a "
        "certificate, pick the file, choose Store location Local Machine and Certificate store Root, and "
        "install. WebXR on HoloLens 2 is retired by Microsoft, so AR there is best-effort."
    ),
}


__all__ = ["DEVICE_STEPS", "trust_page_info"]
