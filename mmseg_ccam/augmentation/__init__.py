"""Pure functional cores (numpy and torch) of AffineMix and ColorAug."""
