"""Model families. Importing this package registers every model-file kind's validator."""

from tinyunfold.models import nmf  # noqa: F401
from tinyunfold.models import frontend  # noqa: F401
from tinyunfold.models import padnmf  # noqa: F401
from tinyunfold.models import dnmfd  # noqa: F401
from tinyunfold.models import dkf  # noqa: F401
