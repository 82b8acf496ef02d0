"""The nemesis: faults injected while clients run, so the history shows how the system copes.

Each fault (:mod:`.kill`, :mod:`.pause`, :mod:`.partition`, :mod:`.packet`,
:mod:`.clock`) is a small :class:`~splitbrain.nemesis.base.Fault` with a
``start`` and a ``stop`` that act only through the backend seam, so they run on
every backend. Partitions are pure data built by :mod:`.grudges`. The
:class:`~splitbrain.nemesis.schedule.NemesisRunner` starts and stops them at
seeded intervals, records each as a ``process: "nemesis"`` op, checks with the
backend that every fault really took effect, and heals everything at the end.
"""
