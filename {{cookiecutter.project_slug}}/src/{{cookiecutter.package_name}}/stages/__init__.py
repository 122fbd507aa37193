"""Pipeline stages: one module per stage in `dvc.yaml`, each runnable with `python -m`."""
