"""The randomisation service's domain errors (one problem+json shape, from rlc_shared.errors)."""

from rlc_shared.errors import Conflict, NotFound, Unprocessable


class SchemeNotFound(NotFound):
    code = "scheme-not-found"


class RunNotFound(NotFound):
    code = "run-not-found"


class AllocationNotFound(NotFound):
    code = "allocation-not-found"


class RunStateConflict(Conflict):
    """The run is not in a state that allows this step (executed twice, not frozen...)."""

    code = "run-state-conflict"


class NothingToRandomise(Conflict):
    code = "nothing-to-randomise"


class AlreadyAllocated(Conflict):
    code = "already-allocated"


class AlreadyInError(Conflict):
    code = "allocation-already-in-error"


class MissingStratumAttribute(Unprocessable):
    code = "missing-stratum-attribute"


class LogRangeError(Unprocessable):
    code = "log-range"


class AmbiguousTestAllocation(Conflict):
    """A test-mode write names no scheme, and the school is allocated in several test schemes."""

    code = "ambiguous-test-allocation"
