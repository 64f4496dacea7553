"""A config's ``param_scheduler`` fitted to a ``train_cfg.max_iters`` given on the command line."""
import copy
import logging
from typing import Any, Dict, List, Optional

from mmengine.config import Config
from mmengine.logging import print_log


def fit_schedule_to_max_iters(schedulers: Any, old_max_iters: int,
                              new_max_iters: int) -> Optional[List[dict]]:
    """Scale iteration-based ``begin`` / ``end`` of ``param_scheduler`` to a new run length.

    A run shortened with ``--cfg-options train_cfg.max_iters=N`` keeps the config's schedule,
    whose warm-up may end after ``N`` (MMEngine then fails with ``end should be larger than
    begin`` once a user also shortens the decay) and whose decay never completes. Every
    iteration ``v`` of ``begin`` / ``end`` / ``milestones`` maps to
    ``f(v) = min(N, max(1, round(v * N / old)))`` (``f(0) = 0``), the same map for all, so
    phases that met still meet; an ``end`` that would not exceed its ``begin`` becomes
    ``begin + 1``.

    Args:
        schedulers (dict | list[dict]): ``param_scheduler`` of the config.
        old_max_iters (int): ``train_cfg.max_iters`` of the config file.
        new_max_iters (int): The overriding value.

    Returns:
        list[dict] | None: The rescaled schedulers, or None if nothing is iteration-based.
    """
    if old_max_iters <= 0 or new_max_iters <= 0 or old_max_iters == new_max_iters:
        return None
    items = [schedulers] if isinstance(schedulers, dict) else list(schedulers or [])

    def f(v: int) -> int:
        return 0 if v <= 0 else min(new_max_iters, max(1, int(round(v * new_max_iters /
                                                                  old_max_iters))))

    scaled, changed = [], False
    for item in items:
        item = copy.deepcopy(item)
        if isinstance(item, dict) and not item.get('by_epoch', True):
            begin = f(item.get('begin', 0))
            if 'begin' in item:
                item['begin'], changed = begin, True
            if 'end' in item:
                item['end'], changed = max(begin + 1, f(item['end'])), True
            if 'milestones' in item:
                item['milestones'], changed = [f(m) for m in item['milestones']], True
        scaled.append(item)
    return scaled if changed else None


def follow_max_iters(cfg: Config, options: Dict[str, Any], old_max_iters: Any) -> None:
    """Rescale ``param_scheduler`` when ``--cfg-options`` changed ``train_cfg.max_iters``
    (and not ``param_scheduler`` itself); log the new schedule."""
    if 'train_cfg.max_iters' not in options or any(
            str(k).startswith('param_scheduler') for k in options):
        return
    if not isinstance(old_max_iters, int) or 'param_scheduler' not in cfg:
        return
    new = cfg.train_cfg.get('max_iters')
    if not isinstance(new, int) or isinstance(new, bool) or new < 1:
        raise ValueError(f'train_cfg.max_iters={new!r} must be an int >= 1.')
    scaled = fit_schedule_to_max_iters(cfg.param_scheduler, old_max_iters, new)
    if scaled is None:
        return
    cfg.param_scheduler = scaled
    phases = ', '.join(f"{s.get('type')}[{s.get('begin', 0)}, {s.get('end', new)})"
                       for s in scaled if isinstance(s, dict))
    print_log(f'train_cfg.max_iters {old_max_iters} -> {new}: param_scheduler rescaled to '
              f'{phases}. Give param_scheduler in --cfg-options to set it yourself.',
              logger='current', level=logging.WARNING)
