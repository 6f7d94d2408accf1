"""Model families. Importing this package registers every model-file kind's validator."""

from tinyunfold.models import (
    dkf,  # noqa: F401
    dnmfd,  # noqa: F401
    frontend,  # noqa: F401
    nmf,  # noqa: F401
    padnmf,  # noqa: F401
)
