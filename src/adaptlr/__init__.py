"""adaptlr: adaptive and learning-rate-free step sizes for JAX, as Optax transformations.

The public API is this one flat namespace. Methods follow Optax's shape: ``scale_by_<method>``
is the core transformation, ``<method>(learning_rate=..., ...)`` the ready optimizer.
"""

from adaptlr import registry as registry
from adaptlr._base import EFFECTIVE_LR_FIELD as EFFECTIVE_LR_FIELD
from adaptlr._base import Interval as Interval
from adaptlr._base import ScaleByLearningRateState as ScaleByLearningRateState
from adaptlr._base import record_learning_rate as record_learning_rate
from adaptlr._base import scale_by_learning_rate as scale_by_learning_rate
from adaptlr._base import tree_norm as tree_norm
from adaptlr._base import tree_sum as tree_sum
from adaptlr._base import tree_vdot as tree_vdot
from adaptlr.introspect import effective_lr as effective_lr
from adaptlr.introspect import effective_lrs as effective_lrs

# --- parameter_free (D-Adaptation, Prodigy, DoG, Mechanic, COCOB, Schedule-Free) ---
# (D-Adaptation)
from adaptlr.parameter_free.dadaptation import DAdaptAdaGradState as DAdaptAdaGradState
from adaptlr.parameter_free.dadaptation import DAdaptAdamState as DAdaptAdamState
from adaptlr.parameter_free.dadaptation import DAdaptAdanState as DAdaptAdanState
from adaptlr.parameter_free.dadaptation import DAdaptLionState as DAdaptLionState
from adaptlr.parameter_free.dadaptation import DAdaptSGDState as DAdaptSGDState
from adaptlr.parameter_free.dadaptation import dadapt_adagrad as dadapt_adagrad
from adaptlr.parameter_free.dadaptation import dadapt_adam as dadapt_adam
from adaptlr.parameter_free.dadaptation import dadapt_adan as dadapt_adan
from adaptlr.parameter_free.dadaptation import dadapt_lion as dadapt_lion
from adaptlr.parameter_free.dadaptation import dadapt_sgd as dadapt_sgd
from adaptlr.parameter_free.dadaptation import scale_by_dadapt_adagrad as scale_by_dadapt_adagrad
from adaptlr.parameter_free.dadaptation import scale_by_dadapt_adam as scale_by_dadapt_adam
from adaptlr.parameter_free.dadaptation import scale_by_dadapt_adan as scale_by_dadapt_adan
from adaptlr.parameter_free.dadaptation import scale_by_dadapt_lion as scale_by_dadapt_lion
from adaptlr.parameter_free.dadaptation import scale_by_dadapt_sgd as scale_by_dadapt_sgd
# (end D-Adaptation)
# (Prodigy, Schedule-Free)
from adaptlr.parameter_free.prodigy import ProdigyState as ProdigyState
from adaptlr.parameter_free.prodigy import prodigy as prodigy
from adaptlr.parameter_free.prodigy import scale_by_prodigy as scale_by_prodigy
from adaptlr.parameter_free.schedule_free import ScheduleFreeState as ScheduleFreeState
from adaptlr.parameter_free.schedule_free import scale_by_schedule_free as scale_by_schedule_free
from adaptlr.parameter_free.schedule_free import (
    scale_by_schedule_free_adamw as scale_by_schedule_free_adamw,
)
from adaptlr.parameter_free.schedule_free import (
    scale_by_schedule_free_radam as scale_by_schedule_free_radam,
)
from adaptlr.parameter_free.schedule_free import (
    scale_by_schedule_free_sgd as scale_by_schedule_free_sgd,
)
from adaptlr.parameter_free.schedule_free import schedule_free as schedule_free
from adaptlr.parameter_free.schedule_free import schedule_free_adamw as schedule_free_adamw
from adaptlr.parameter_free.schedule_free import (
    schedule_free_eval_params as schedule_free_eval_params,
)
from adaptlr.parameter_free.schedule_free import schedule_free_radam as schedule_free_radam
from adaptlr.parameter_free.schedule_free import schedule_free_sgd as schedule_free_sgd
# (end Prodigy, Schedule-Free)
# (DoG family, Mechanic, COCOB)
from adaptlr.parameter_free.cocob import COCOBState as COCOBState
from adaptlr.parameter_free.cocob import cocob as cocob
from adaptlr.parameter_free.cocob import scale_by_cocob as scale_by_cocob
from adaptlr.parameter_free.dog import DoGState as DoGState
from adaptlr.parameter_free.dog import DoWGState as DoWGState
from adaptlr.parameter_free.dog import LDoGState as LDoGState
from adaptlr.parameter_free.dog import (
    PolynomialDecayAveragingState as PolynomialDecayAveragingState,
)
from adaptlr.parameter_free.dog import dog as dog
from adaptlr.parameter_free.dog import dowg as dowg
from adaptlr.parameter_free.dog import ldog as ldog
from adaptlr.parameter_free.dog import (
    polynomial_decay_averaged_params as polynomial_decay_averaged_params,
)
from adaptlr.parameter_free.dog import polynomial_decay_averaging as polynomial_decay_averaging
from adaptlr.parameter_free.dog import scale_by_dog as scale_by_dog
from adaptlr.parameter_free.dog import scale_by_dowg as scale_by_dowg
from adaptlr.parameter_free.dog import scale_by_ldog as scale_by_ldog
from adaptlr.parameter_free.mechanic import MechanicState as MechanicState
from adaptlr.parameter_free.mechanic import mechanic_adam as mechanic_adam
from adaptlr.parameter_free.mechanic import mechanic_sgd as mechanic_sgd
from adaptlr.parameter_free.mechanic import mechanize as mechanize
# (end DoG family, Mechanic, COCOB)
# (wppsf: ProdigyPlusScheduleFree)
from adaptlr.parameter_free.prodigy_plus_schedule_free import (
    ProdigyPlusState as ProdigyPlusState,
)
from adaptlr.parameter_free.prodigy_plus_schedule_free import (
    prodigy_plus_schedule_free as prodigy_plus_schedule_free,
)
from adaptlr.parameter_free.prodigy_plus_schedule_free import (
    scale_by_prodigy_plus_schedule_free as scale_by_prodigy_plus_schedule_free,
)
# (end ProdigyPlusScheduleFree)

# --- polyak / hypergradient / per_parameter_lr ---
from adaptlr.adaptive.step_size_adaptation import ScaleByAutostepState as ScaleByAutostepState
from adaptlr.adaptive.step_size_adaptation import (
    ScaleByDeltaBarDeltaState as ScaleByDeltaBarDeltaState,
)
from adaptlr.adaptive.step_size_adaptation import ScaleByIdbdState as ScaleByIdbdState
from adaptlr.adaptive.step_size_adaptation import autostep as autostep
from adaptlr.adaptive.step_size_adaptation import delta_bar_delta as delta_bar_delta
from adaptlr.adaptive.step_size_adaptation import idbd as idbd
from adaptlr.adaptive.step_size_adaptation import scale_by_autostep as scale_by_autostep
from adaptlr.adaptive.step_size_adaptation import (
    scale_by_delta_bar_delta as scale_by_delta_bar_delta,
)
from adaptlr.adaptive.step_size_adaptation import scale_by_idbd as scale_by_idbd
from adaptlr.parameter_free.adagrad_norm import ScaleByAdagradNormState as ScaleByAdagradNormState
from adaptlr.parameter_free.adagrad_norm import adagrad_norm as adagrad_norm
from adaptlr.parameter_free.adagrad_norm import scale_by_adagrad_norm as scale_by_adagrad_norm
from adaptlr.parameter_free.hypergradient import HypergradientState as HypergradientState
from adaptlr.parameter_free.hypergradient import (
    ScaleByHypergradientState as ScaleByHypergradientState,
)
from adaptlr.parameter_free.hypergradient import hypergradient as hypergradient
from adaptlr.parameter_free.hypergradient import hypergradient_adam as hypergradient_adam
from adaptlr.parameter_free.hypergradient import hypergradient_sgd as hypergradient_sgd
from adaptlr.parameter_free.hypergradient import (
    scale_by_hypergradient_adam as scale_by_hypergradient_adam,
)
from adaptlr.parameter_free.hypergradient import (
    scale_by_hypergradient_sgd as scale_by_hypergradient_sgd,
)
from adaptlr.parameter_free.polyak import ScaleByAligState as ScaleByAligState
from adaptlr.parameter_free.polyak import ScaleBySpsState as ScaleBySpsState
from adaptlr.parameter_free.polyak import alig as alig
from adaptlr.parameter_free.polyak import scale_by_alig as scale_by_alig
from adaptlr.parameter_free.polyak import scale_by_sps as scale_by_sps
from adaptlr.parameter_free.polyak import sps as sps
from adaptlr.parameter_free.polyak_variants import ScaleByAdaSpsState as ScaleByAdaSpsState
from adaptlr.parameter_free.polyak_variants import ScaleByDecSpsState as ScaleByDecSpsState
from adaptlr.parameter_free.polyak_variants import (
    ScaleByImaSpsSafeState as ScaleByImaSpsSafeState,
)
from adaptlr.parameter_free.polyak_variants import adasps as adasps
from adaptlr.parameter_free.polyak_variants import decsps as decsps
from adaptlr.parameter_free.polyak_variants import ScaleBySpsSafeState as ScaleBySpsSafeState
from adaptlr.parameter_free.polyak_variants import ima_sps_safe as ima_sps_safe
from adaptlr.parameter_free.polyak_variants import scale_by_adasps as scale_by_adasps
from adaptlr.parameter_free.polyak_variants import scale_by_decsps as scale_by_decsps
from adaptlr.parameter_free.polyak_variants import scale_by_ima_sps_safe as scale_by_ima_sps_safe
from adaptlr.parameter_free.polyak_variants import scale_by_sps_safe as scale_by_sps_safe
from adaptlr.parameter_free.polyak_variants import sps_safe as sps_safe

# --- loss_driven ---
from adaptlr.loss_driven.plateau import PlateauController as PlateauController
from adaptlr.loss_driven.plateau import ReduceOnPlateauState as ReduceOnPlateauState
from adaptlr.loss_driven.plateau import plateau_controller as plateau_controller
from adaptlr.loss_driven.plateau import reduce_on_plateau as reduce_on_plateau
from adaptlr.loss_driven.plateau import (
    scale_by_reduce_on_plateau as scale_by_reduce_on_plateau,
)
from adaptlr.loss_driven.momo import ScaleByMomoAdamState as ScaleByMomoAdamState
from adaptlr.loss_driven.momo import ScaleByMomoState as ScaleByMomoState
from adaptlr.loss_driven.momo import momo as momo
from adaptlr.loss_driven.momo import momo_adam as momo_adam
from adaptlr.loss_driven.momo import scale_by_momo as scale_by_momo
from adaptlr.loss_driven.momo import scale_by_momo_adam as scale_by_momo_adam
from adaptlr.loss_driven.ngn import ScaleByNgnState as ScaleByNgnState
from adaptlr.loss_driven.ngn import ngn as ngn
from adaptlr.loss_driven.ngn import scale_by_ngn as scale_by_ngn
from adaptlr.loss_driven.ngn import ScaleByNgnDState as ScaleByNgnDState
from adaptlr.loss_driven.ngn import ScaleByNgnMState as ScaleByNgnMState
from adaptlr.loss_driven.ngn import ngn_d as ngn_d
from adaptlr.loss_driven.ngn import ngn_m as ngn_m
from adaptlr.loss_driven.ngn import ngn_md as ngn_md
from adaptlr.loss_driven.ngn import scale_by_ngn_d as scale_by_ngn_d
from adaptlr.loss_driven.ngn import scale_by_ngn_m as scale_by_ngn_m
from adaptlr.loss_driven.ngn import scale_by_ngn_md as scale_by_ngn_md
# --- wsls: stochastic line searches ---
from adaptlr.loss_driven.sls import ScaleByAdaSlsState as ScaleByAdaSlsState
from adaptlr.loss_driven.sls import ScaleBySlsState as ScaleBySlsState
from adaptlr.loss_driven.sls import adasls as adasls
from adaptlr.loss_driven.sls import scale_by_adasls as scale_by_adasls
from adaptlr.loss_driven.sls import scale_by_sls as scale_by_sls
from adaptlr.loss_driven.sls import sls as sls
from adaptlr.loss_driven.sls import value_fn_on_subtree as value_fn_on_subtree
# (end loss_driven)

# --- adaptive ---
from adaptlr.adaptive.adam_mini import AdamMiniState as AdamMiniState
from adaptlr.adaptive.adam_mini import Block as Block
from adaptlr.adaptive.adam_mini import adam_mini as adam_mini
from adaptlr.adaptive.adam_mini import adam_mini_partition as adam_mini_partition
from adaptlr.adaptive.adam_mini import scale_by_adam_mini as scale_by_adam_mini
from adaptlr.adaptive.bounded import AdaBoundState as AdaBoundState
from adaptlr.adaptive.bounded import AdaModState as AdaModState
from adaptlr.adaptive.bounded import adabound as adabound
from adaptlr.adaptive.bounded import adaboundw as adaboundw
from adaptlr.adaptive.bounded import adamod as adamod
from adaptlr.adaptive.bounded import amsbound as amsbound
from adaptlr.adaptive.bounded import scale_by_adabound as scale_by_adabound
from adaptlr.adaptive.bounded import scale_by_adaboundw as scale_by_adaboundw
from adaptlr.adaptive.bounded import scale_by_adamod as scale_by_adamod
from adaptlr.adaptive.bounded import scale_by_amsbound as scale_by_amsbound
from adaptlr.adaptive.came import CAMEState as CAMEState
from adaptlr.adaptive.came import came as came
from adaptlr.adaptive.came import scale_by_came as scale_by_came
from adaptlr.adaptive.cautious import CautiousState as CautiousState
from adaptlr.adaptive.cautious import cautious as cautious
from adaptlr.adaptive.cautious import cautious_adamw as cautious_adamw
from adaptlr.adaptive.clipped import AdamAtan2State as AdamAtan2State
from adaptlr.adaptive.clipped import StableAdamWState as StableAdamWState
from adaptlr.adaptive.clipped import adam_atan2 as adam_atan2
from adaptlr.adaptive.clipped import scale_by_adam_atan2 as scale_by_adam_atan2
from adaptlr.adaptive.clipped import scale_by_stable_adamw as scale_by_stable_adamw
from adaptlr.adaptive.clipped import stable_adamw as stable_adamw
from adaptlr.adaptive.partial import PAdamState as PAdamState
from adaptlr.adaptive.partial import QHAdamState as QHAdamState
from adaptlr.adaptive.partial import padam as padam
from adaptlr.adaptive.partial import qhadam as qhadam
from adaptlr.adaptive.partial import scale_by_padam as scale_by_padam
from adaptlr.adaptive.partial import scale_by_qhadam as scale_by_qhadam
# (issue 18: MADGRAD, ADOPT, SGD-SaI, AdamG, Kate, TRAC)
from adaptlr.adaptive.adopt import ScaleByAdoptState as ScaleByAdoptState
from adaptlr.adaptive.adopt import adopt as adopt
from adaptlr.adaptive.adopt import scale_by_adopt as scale_by_adopt
from adaptlr.adaptive.kate import KateState as KateState
from adaptlr.adaptive.kate import kate as kate
from adaptlr.adaptive.kate import scale_by_kate as scale_by_kate
from adaptlr.adaptive.madgrad import MadgradState as MadgradState
from adaptlr.adaptive.madgrad import madgrad as madgrad
from adaptlr.adaptive.madgrad import scale_by_madgrad as scale_by_madgrad
from adaptlr.adaptive.sgd_sai import SgdSaiState as SgdSaiState
from adaptlr.adaptive.sgd_sai import scale_by_sgd_sai as scale_by_sgd_sai
from adaptlr.adaptive.sgd_sai import sgd_sai as sgd_sai
from adaptlr.parameter_free.adamg import AdamGState as AdamGState
from adaptlr.parameter_free.adamg import adamg as adamg
from adaptlr.parameter_free.adamg import scale_by_adamg as scale_by_adamg
from adaptlr.parameter_free.trac import TracState as TracState
from adaptlr.parameter_free.trac import trac as trac
from adaptlr.parameter_free.trac import trac_adam as trac_adam
# (end issue 18 w18a)

# --- schedules ---
from adaptlr import schedules as schedules
from adaptlr.schedules import chebyshev_schedule as chebyshev_schedule
from adaptlr.schedules import cosine_schedule as cosine_schedule
from adaptlr.schedules import cosine_with_restarts as cosine_with_restarts
from adaptlr.schedules import cyclic_schedule as cyclic_schedule
from adaptlr.schedules import inverse_sqrt_schedule as inverse_sqrt_schedule
from adaptlr.schedules import linear_to_zero as linear_to_zero
from adaptlr.schedules import multistep_schedule as multistep_schedule
from adaptlr.schedules import onecycle_schedule as onecycle_schedule
from adaptlr.schedules import polynomial_to_zero as polynomial_to_zero
from adaptlr.schedules import rex_schedule as rex_schedule
from adaptlr.schedules import untuned_warmup as untuned_warmup
from adaptlr.schedules import warmup as warmup
from adaptlr.schedules import wsd_schedule as wsd_schedule

# --- tools (groups, finder, sweep) ---
from adaptlr.groups import Rule as Rule
from adaptlr.groups import describe_groups as describe_groups
from adaptlr.groups import group as group
from adaptlr.groups import group_labels as group_labels
from adaptlr.groups import infer_layer as infer_layer
from adaptlr.groups import layerwise_lr_decay as layerwise_lr_decay
from adaptlr.groups import param_groups as param_groups
from adaptlr.groups import param_path as param_path
from adaptlr.finder import LRRangeTestResult as LRRangeTestResult
from adaptlr.finder import lr_range_test as lr_range_test
from adaptlr.finder import plot_lr_range_test as plot_lr_range_test
from adaptlr.finder import suggest_learning_rates as suggest_learning_rates
from adaptlr.introspect import effective_lr_scalars as effective_lr_scalars
from adaptlr.introspect import UpdateStats as UpdateStats
from adaptlr.introspect import as_floats as as_floats
from adaptlr.introspect import log_stats as log_stats
from adaptlr.introspect import preconditioner_lr_stats as preconditioner_lr_stats
from adaptlr.introspect import update_stats as update_stats
from adaptlr.sweep import SweepResult as SweepResult
from adaptlr.sweep import train_sweep as train_sweep

# --- wsfplus (AdamC decay, refined Schedule-Free AdamW, ScheduleFree+) ---
from adaptlr.parameter_free.schedule_free import (
    refined_schedule_free_adamw as refined_schedule_free_adamw,
)
from adaptlr.parameter_free.schedule_free import (
    scale_by_refined_schedule_free_adamw as scale_by_refined_schedule_free_adamw,
)
from adaptlr.parameter_free.schedule_free_plus import (
    ScheduleFreePlusMoments as ScheduleFreePlusMoments,
)
from adaptlr.parameter_free.schedule_free_plus import (
    scale_by_schedule_free_plus as scale_by_schedule_free_plus,
)
from adaptlr.parameter_free.schedule_free_plus import schedule_free_plus as schedule_free_plus
from adaptlr.weight_decay import AdamCDecayState as AdamCDecayState
from adaptlr.weight_decay import adamc as adamc
from adaptlr.weight_decay import add_adamc_decayed_weights as add_adamc_decayed_weights
# --- end wsfplus ---
# --- ngn (NGN-MDv1) ---
from adaptlr.loss_driven.ngn import ScaleByNgnMdv1State as ScaleByNgnMdv1State
from adaptlr.loss_driven.ngn import ngn_mdv1 as ngn_mdv1
from adaptlr.loss_driven.ngn import scale_by_ngn_mdv1 as scale_by_ngn_mdv1
# --- end ngn ---

__version__ = "0.1.0"
