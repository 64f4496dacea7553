"""Exceptions shared by the layers of the package (models, datasets, engine, tools).

They live at the bottom layer so that a model can raise :class:`IncompatibleCheckpointError`
and the engine can catch it without the models importing the engine.
"""
from typing import Optional

__all__ = ['ConfigKeyError', 'IncompatibleCheckpointError', 'CHECKPOINT_PLACEHOLDER']

CHECKPOINT_PLACEHOLDER = '{checkpoint}'


class ConfigKeyError(KeyError):
    """``KeyError`` for a config key; prints its message as written (``KeyError`` would quote
    it and escape the quotes inside)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class IncompatibleCheckpointError(RuntimeError):
    """A checkpoint does not fit the model (other architecture, no ``teacher.*`` weights for a
    mean teacher, ...).

    Raised inside ``load_state_dict``, where the file name is unknown: the message contains the
    placeholder ``{checkpoint}``, shown as "the checkpoint" until a caller that knows the file
    (``AtomicCheckpointRunner.load_checkpoint``, ``tools/test.py``) sets :attr:`checkpoint`.

    Args:
        message (str): The message, with ``{checkpoint}`` where the file name goes.
        checkpoint (str, optional): The file name, if known.
    """

    def __init__(self, message: str, checkpoint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        name = f'Checkpoint {self.checkpoint!r}' if self.checkpoint else 'The checkpoint'
        text = self.message.replace(CHECKPOINT_PLACEHOLDER, name, 1)
        return text.replace(CHECKPOINT_PLACEHOLDER, repr(self.checkpoint or 'CHECKPOINT'))
