"""How the tasks of a multi-task segmentor pull on the layers they share.

A joint model trains one backbone (and neck) with the sum of the segmentation and the depth
losses. Whether one task's gradient drowns the other's, or the two point against each other,
is read from the per-task gradients on the shared parameters: their norms, the ratio of the
norms and their cosine, per part of the network (GradNorm, PCGrad and the like act on these
quantities; here they are only measured).
"""
from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn

__all__ = ['loss_groups', 'task_gradients', 'gradient_stats']


def loss_groups(losses: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Sum a model's loss dict per task.

    The task of a key is its text before the first ``.`` (``decode.loss_ce`` -> ``decode``,
    ``depth.loss_silog`` -> ``depth``); as in MMEngine's ``parse_losses``, only keys containing
    ``loss`` are losses (``decode.acc_seg``, ``num_no_depth`` are logged values), and a list of
    tensors is summed.

    Args:
        losses (dict[str, Tensor | list[Tensor]]): What ``model(..., mode='loss')`` returns.

    Returns:
        OrderedDict[str, Tensor]: One scalar per task, in the order the keys first appear.
    """
    groups: Dict[str, torch.Tensor] = OrderedDict()
    for key, value in losses.items():
        if 'loss' not in key:
            continue
        terms = value if isinstance(value, (list, tuple)) else [value]
        total = sum(t.mean() for t in terms)
        task = key.split('.', 1)[0] if '.' in key else key
        groups[task] = groups[task] + total if task in groups else total
    if not groups:
        raise ValueError(f'The model returned no loss (keys: {sorted(losses)}); '
                         'keys containing "loss" are the losses.')
    return groups


def _part(name: str, depth: int) -> str:
    return '.'.join(name.split('.')[:depth])


def task_gradients(model: nn.Module, data: dict, shared: Sequence[str] = ('backbone', 'neck'),
                   part_depth: int = 2
                   ) -> Tuple[Dict[str, Dict[str, torch.Tensor]], Dict[str, float]]:
    """Per-task gradients of one training batch on the shared parameters.

    The model is put in train mode (BN uses the batch statistics, as in training) and its
    gradients are left untouched (``torch.autograd.grad``).

    Args:
        model (nn.Module): A segmentor with ``data_preprocessor`` and ``mode='loss'``, e.g.
            ``SegDepthEncoderDecoder``.
        data (dict): A batch as the train dataloader yields it (``inputs``, ``data_samples``).
        shared (Sequence[str]): Top-level submodules whose parameters every task trains.
        part_depth (int): Parameters are grouped by the first ``part_depth`` components of
            their name (2: ``backbone.layer1``, ``neck.attn``...).

    Returns:
        tuple: ``grads[part][task]``, the flattened gradient (1-D tensor) of that task's loss
        on the part's parameters (zero where the task does not reach them, e.g. a task's own
        adapter in the neck), with the extra part ``'all shared'`` holding only the parameters
        that every task reaches; and the loss value of each task.
    """
    params: List[Tuple[str, nn.Parameter]] = [
        (n, p) for n, p in model.named_parameters()
        if p.requires_grad and n.split('.', 1)[0] in set(shared)]
    if not params:
        tops = sorted({n.split('.', 1)[0] for n, _ in model.named_parameters()})
        raise ValueError(f'No trainable parameter under {list(shared)}; the model has {tops}.')
    model.train()
    batch = model.data_preprocessor(data, training=True)
    groups = loss_groups(model(**batch, mode='loss'))
    # None where the task's graph does not reach the parameter at all.
    raw = {task: torch.autograd.grad(loss, [p for _, p in params], retain_graph=True,
                                     allow_unused=True)
           for task, loss in groups.items()}
    reached_by_all = [all(raw[t][i] is not None for t in raw) for i in range(len(params))]
    if not any(reached_by_all):
        raise ValueError(f'No parameter under {list(shared)} is reached by every task '
                         f'({list(groups)}); nothing is shared.')
    grads: Dict[str, Dict[str, torch.Tensor]] = OrderedDict()
    for task, per_param in raw.items():
        flat = [(torch.zeros_like(p) if g is None else g.detach()).flatten()
                for (_, p), g in zip(params, per_param)]
        chunks: Dict[str, List[torch.Tensor]] = OrderedDict()
        for (name, _), g in zip(params, flat):
            chunks.setdefault(_part(name, part_depth), []).append(g)
        chunks['all shared'] = [g for g, keep in zip(flat, reached_by_all) if keep]
        for part, cs in chunks.items():
            grads.setdefault(part, OrderedDict())[task] = torch.cat(cs)
    return grads, {task: float(loss.detach()) for task, loss in groups.items()}


def gradient_stats(grads: Dict[str, Dict[str, torch.Tensor]]) -> List[dict]:
    """Norms of each task's gradient per part, and for every pair of tasks the norm ratio and
    the cosine (NaN when one gradient is zero).

    Returns:
        list[dict]: One row per part: ``part``, ``norm/<task>``, ``ratio/<a>:<b>``
        (``|g_a| / |g_b|``) and ``cos/<a>:<b>``.
    """
    rows = []
    for part, by_task in grads.items():
        row: dict = {'part': part}
        tasks = list(by_task)
        for t in tasks:
            row[f'norm/{t}'] = float(by_task[t].norm())
        for i, a in enumerate(tasks):
            for b in tasks[i + 1:]:
                na, nb = row[f'norm/{a}'], row[f'norm/{b}']
                row[f'ratio/{a}:{b}'] = na / nb if nb > 0 else float('nan')
                row[f'cos/{a}:{b}'] = (float(by_task[a] @ by_task[b]) / (na * nb)
                                       if na > 0 and nb > 0 else float('nan'))
        rows.append(row)
    return rows
