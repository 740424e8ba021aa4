"""GB/T 28181: camgrid as an upper platform that lower platforms and devices register with.

Layers, from the wire up: :mod:`~ingest.gb28181.headers` and
:mod:`~ingest.gb28181.sip` (SIP messages), :mod:`~ingest.gb28181.manscdp`
(XML bodies), :mod:`~ingest.gb28181.digest` (MD5 digest),
:mod:`~ingest.gb28181.endpoint` (UDP/TCP and transactions),
:mod:`~ingest.gb28181.registrar` (REGISTER), :mod:`~ingest.gb28181.device_catalog`
(catalog reassembly and cameras), :mod:`~ingest.gb28181.bridge` (the
application, writing the catalog) and :mod:`~ingest.gb28181.service` (the
lease that picks the one worker serving SIP).
"""

from ingest.gb28181.service import Gb28181Service, running_gb28181

__all__ = ["Gb28181Service", "running_gb28181"]
