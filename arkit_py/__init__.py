"""arkit: anatomy and nuclear-medicine teaching with AR holograms.

Data flow (imports follow the arrows; see docs/architecture.md)::

    sources/ -> geometry/ -> scene/ -> lesson/ -> server/ -> web_ar/
"""

__version__ = "0.1.0"
