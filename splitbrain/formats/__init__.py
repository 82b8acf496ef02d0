"""Readers for foreign history formats: Porcupine's etcd and kv logs, Jepsen/Knossos EDN.

Every reader returns a :class:`splitbrain.history.History`, keeps its origin's
semantics in the ops (see each module), and rejects malformed input with
:class:`splitbrain.errors.BadInputError` naming ``file:line``.
"""

from splitbrain.formats.detect import FORMATS, detect_format, read_history

__all__ = ["FORMATS", "detect_format", "read_history"]
