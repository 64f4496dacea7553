# MMSegmentation's runtime plus the import that registers this package's components.
_base_ = ['mmseg::_base_/default_runtime.py']

custom_imports = dict(imports=['mmseg_ccam'], allow_failed_imports=False)
