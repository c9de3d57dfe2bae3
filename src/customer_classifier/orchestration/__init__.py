"""What ``make submit`` and ``make schedule`` decide, apart from talking to Kubeflow Pipelines.

:mod:`.targets` maps an environment to its namespace and experiment and names a pipeline
version after the code; :mod:`.schedules` holds the nightly recurring runs as data and
plans, from what the server already has, the fewest changes that reach them. The KFP
client itself stays in ``pipelines/kfp_api.py``: nothing here imports kfp.
"""
