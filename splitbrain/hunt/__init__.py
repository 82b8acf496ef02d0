"""``splitbrain hunt``: search seeds and fault schedules for a failing run, then shrink it.

:mod:`.runs` runs one test as a child ``splitbrain run``; :mod:`.search` is the
guided search and the replay-checked shrink loop; :mod:`.shrink` proposes
smaller candidates (pure functions); the command is :mod:`splitbrain.cli.hunt`.
"""
