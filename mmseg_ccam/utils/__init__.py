from .launch import init_cpu_distributed, load_config

__all__ = ['init_cpu_distributed', 'load_config']
