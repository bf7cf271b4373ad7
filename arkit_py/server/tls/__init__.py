"""TLS for ``arkit serve --tls auto``: this machine's LAN addresses, a local certificate
authority, and the trust page that installs it on the students' devices.

WebXR exists only in secure contexts (https, or http on localhost), so a classroom server on a
LAN address needs a certificate the students' devices trust. ``addresses`` finds the
addresses to serve (``lan_addresses``); ``authority`` keeps the CA in ``<data>/tls/`` and
issues the server certificate for those addresses (``ensure_ca``, ``ensure_leaf``,
``ssl_context``); ``trust`` is what the trust page shows (``trust_page_info``,
``DEVICE_STEPS``), so each device downloads and installs the CA once. A real certificate
(``--tls CERT,KEY``) needs none of this.
"""

from .addresses import lan_addresses
from .authority import CA, ensure_ca, ensure_leaf, ssl_context
from .trust import DEVICE_STEPS, trust_page_info

__all__ = ["CA", "DEVICE_STEPS", "ensure_ca", "ensure_leaf", "lan_addresses", "ssl_context", "trust_page_info"]
