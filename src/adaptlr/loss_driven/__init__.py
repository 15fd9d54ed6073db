"""Step sizes that read the loss value: plateau control, MoMo.

Each module is one family file (``plateau.py``, ``momo.py``); the public names are exported
from :mod:`adaptlr`. The Polyak steps SPS and ALI-G stay in
:mod:`adaptlr.parameter_free.polyak` (registry family ``polyak``).
"""
