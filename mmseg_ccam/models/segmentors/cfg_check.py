"""Reject misspelled keys of the option dicts that mmseg_ccam reads with ``.get()``.

A key read with ``cfg.get(key, default)`` that is misspelled in a config or in
``--cfg-options`` is ignored without a word and the run uses the default: a silent wrong
result. Every such dict is checked against its list of valid keys when it is parsed.
"""
import difflib
from typing import Iterable, Optional

__all__ = ['ConfigKeyError', 'check_cfg_keys', 'closest_key']


class ConfigKeyError(KeyError):
    """``KeyError`` for a config key; prints its message as written (``KeyError`` would quote
    it and escape the quotes inside)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def closest_key(key: str, valid: Iterable[str]) -> Optional[str]:
    """The valid key most similar to ``key`` (``difflib``; else one that contains ``key`` or
    is contained in it, e.g. ``eval`` -> ``eval_model``), or None if none is close."""
    valid = [str(v) for v in valid]
    close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
    if close:
        return close[0]
    partial = [v for v in valid if len(str(key)) >= 3 and (str(key) in v or v in str(key))]
    return partial[0] if len(partial) == 1 else None


def check_cfg_keys(cfg: Optional[dict], allowed: Iterable[str], where: str) -> None:
    """Raise :class:`ConfigKeyError` if ``cfg`` has a key outside ``allowed``.

    Args:
        cfg (dict | None): The option dict (None passes).
        allowed (Iterable[str]): Valid keys.
        where (str): Owner and name of the dict for the message, e.g.
            ``'MeanTeacherSegDepth semi_train_cfg'``.

    Raises:
        ConfigKeyError: naming each unknown key with its closest valid key, and listing the
            valid keys.
    """
    allowed = sorted(allowed)
    unknown = [k for k in (cfg or {}) if k not in allowed]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = closest_key(key, allowed)
        hints.append(f'{key!r}' + (f' (did you mean {close!r}?)' if close else ''))
    raise ConfigKeyError(f'{where}: unknown key(s) {", ".join(hints)}; valid keys: {allowed}. '
                         'Fix the spelling in the config or in --cfg-options.')
