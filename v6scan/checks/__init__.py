"""The checks: one module per check id (``dns_aaaa.py`` is ``dns.aaaa``), each declaring a ``CHECK``
(:class:`v6scan.checks.base.Check`), and the modules of what a family's checks share (``dns.py``,
``webstate.py``, ``links.py``, ``path.py``, ``mail.py``).  :mod:`v6scan.registry` lists them."""
