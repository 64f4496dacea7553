from . import multi_source_sampler  # noqa: F401
