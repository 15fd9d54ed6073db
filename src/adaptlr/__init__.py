"""adaptlr: adaptive and learning-rate-free step sizes for JAX, as Optax transformations.

The public API is this one flat namespace. Methods follow Optax's shape: ``scale_by_<method>``
is the core transformation, ``<method>(learning_rate=..., ...)`` the ready optimizer.
"""

from adaptlr import registry as registry
from adaptlr._base import EFFECTIVE_LR_FIELD as EFFECTIVE_LR_FIELD
from adaptlr._base import Interval as Interval
from adaptlr._base import ScaleByLearningRateState as ScaleByLearningRateState
from adaptlr._base import scale_by_learning_rate as scale_by_learning_rate
from adaptlr._base import tree_norm as tree_norm
from adaptlr._base import tree_sum as tree_sum
from adaptlr._base import tree_vdot as tree_vdot
from adaptlr.introspect import effective_lr as effective_lr
from adaptlr.introspect import effective_lrs as effective_lrs

# --- parameter_free (D-Adaptation, Prodigy, DoG, Mechanic, COCOB, Schedule-Free) ---

# --- polyak / hypergradient / per_parameter_lr ---

# --- adaptive ---

# --- schedules ---

# --- tools (groups, finder, sweep) ---

__version__ = "0.1.0"
