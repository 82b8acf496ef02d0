"""The nemesis: faults injected while clients run, so the history shows how the system copes.

Each fault (:mod:`.process` kill and pause, :mod:`.partition`, :mod:`.packet`,
:mod:`.clock`, :mod:`.disk`) is a small :class:`~splitbrain.nemesis.base.Fault`
with a ``start`` and a ``stop`` that act only through the backend seam, so they
run on every backend, and (the :class:`~splitbrain.nemesis.base.Drawn`
capability) a ``draw`` that says up front what it will do. Partitions are pure
data built by :mod:`.grudges`. A run's whole schedule is data
(:mod:`.plan`), made from the seed before the run (:mod:`.compose`: bursts of
single, composed and flapping faults with recovery windows) or read from
``schedule.json``; the :class:`~splitbrain.nemesis.schedule.NemesisRunner`
applies it, records each start and stop as a ``process: "nemesis"`` op, checks
with the backend that every fault really took effect, and heals everything at
the end.
"""
