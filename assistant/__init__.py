"""Mneme's core: no Qt here. The UI and the CLI talk to it only through `Assistant`."""

from assistant._version import __version__
from assistant.app import Assistant, ReplyStream
from assistant.cancel import Cancelled, CancelToken
from assistant.errors import MnemeError

__all__ = ["Assistant", "CancelToken", "Cancelled", "MnemeError", "ReplyStream", "__version__"]
