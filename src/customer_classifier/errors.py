"""Exceptions a user can cause, each carrying a message that names the value and the fix.

The CLI prints ``str(error)`` for these and exits non-zero; anything else is a bug and
keeps its traceback.
"""


class CustomerClassifierError(Exception):
    """Base of every error whose message is meant for the user."""


class ConfigurationError(CustomerClassifierError):
    """A setting or argument has a value the system cannot work with."""


class DataSourceError(CustomerClassifierError):
    """The database cannot be reached, or a table the contract needs is absent."""


class DataVerificationError(CustomerClassifierError):
    """Blocking data-quality failures: the run stops before anything is written."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


class RegistryError(CustomerClassifierError):
    """A model version or alias is missing, unreadable or fails its checksum."""


class AliasConflictError(RegistryError):
    """An alias moved under us between read and write (optimistic concurrency)."""


class TrainingError(CustomerClassifierError):
    """Training cannot produce a usable model (for example: a single class in the labels)."""


class CandidateSkippedError(TrainingError):
    """One candidate cannot train on this data; the others go on, and the reason is kept."""


class PipelinesApiError(CustomerClassifierError):
    """The Kubeflow Pipelines API refuses a request (submit, schedule) or answers an error."""


class PipelinesApiUnreachableError(PipelinesApiError):
    """Nothing answers at the KFP host, or it does not answer in time."""


class PipelinesApiAuthError(PipelinesApiError):
    """The KFP API answers 401 or 403: no token, a wrong one, or no access to the namespace."""


class ExplanationError(CustomerClassifierError):
    """A model version has no per-customer contributions (its type, or its metadata)."""


class ShardError(CustomerClassifierError):
    """A shard of a sharded night failed, or the shards do not cover the night: nothing
    was published, and the message names the shard's customer-id range."""


class PushgatewayError(CustomerClassifierError):
    """The Pushgateway cannot be reached, or refuses a night's push: the message names
    its URL, the grouping key and what to change."""
