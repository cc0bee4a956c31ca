"""`edgepick train`: the same model, data and hyperparameters trained in each framework, each in its own worker.

Modules: config.py (what is trained, and how), frameworks.py (the framework variants and how each worker starts),
data.py (the splits, and each framework's idiomatic loader), weights.py (one set of initial weights copied into
every framework, layout by layout), keras_models.py (the zoo architectures as Keras 3 models), torch_trainer.py,
keras_trainer.py, mxnet_trainer.py (one per framework), clock.py (step and epoch timing), worker.py (one framework
in one process), runner.py (launch, store, resume), deploy.py (trained models into the inference sweep),
report.py and claims.py (table, JSON, Markdown, the chapter's claims beside the measurements).
"""
