"""A programmable fake of the Bright Data DCA API on 127.0.0.1 (standard library only), with
fault injection and request counting, for tests, the local demo and benchmarks: the simulator
(``api``), its job store and controls (``jobs``), the endpoints it serves (``routes``), faults
(``faults``) and HTTP plumbing (``server``). Run it with ``python -m local.simulator``."""

from local.simulator.api import BrightDataSimulator
from local.simulator.faults import FaultKind, http_date
from local.simulator.routes import ENDPOINTS
from local.simulator.server import ServedRequest

__all__ = ["ENDPOINTS", "BrightDataSimulator", "FaultKind", "ServedRequest", "http_date"]
