"""The chapters under nbmake (CI's test stage and the README's test command).

Executing a chapter here checks that it runs; the book build executes every chapter in
full for the published page. So the chapters' one long loop, SDS's optimisation (300
steps in the miniature world), runs at most ``NOTEBOOK_LOOP_CAP`` steps here through
``ITSLIB_MAX_LOOP_STEPS`` (the page says so when it caps), unless the run set its own cap
(the Colab-path stage sets the rehearsal's).
"""

import os

NOTEBOOK_LOOP_CAP = "30"
_CAP = "ITSLIB_MAX_LOOP_STEPS"


def pytest_runtest_setup(item):
    item.stash_cap = _CAP in os.environ
    os.environ.setdefault(_CAP, NOTEBOOK_LOOP_CAP)


def pytest_runtest_teardown(item):
    if not getattr(item, "stash_cap", True):
        del os.environ[_CAP]
