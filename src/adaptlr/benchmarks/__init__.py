"""Benchmarks: Flax tasks, offline data, the resumable runner, result storage and plots.

This subpackage needs the ``experiments`` extra (flax, matplotlib, mnist1d, scikit-learn);
``import adaptlr`` never imports it.
"""

from adaptlr.benchmarks.tasks import Task as Task
from adaptlr.benchmarks.tasks import get_task as get_task
from adaptlr.benchmarks.tasks import task_names as task_names
from adaptlr.benchmarks.tasks import train as train
