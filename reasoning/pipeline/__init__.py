"""What the Kubeflow pipeline needs from the library, without importing kfp.

``params`` declares and validates the pipeline's parameters (and loads pipeline recipes);
``steps`` is the library side of each pipeline step (import a dataset or model, run a stage);
``launch`` runs a stage on several GPUs (accelerate) or nodes (a Kubeflow Trainer ``TrainJob``
built by ``trainjob``, or a ``PyTorchJob``) with ``cluster_settings``; ``registry`` and
``promotion`` register the final model in the Kubeflow Model Registry and deploy it to KServe.
The kfp side (components and the pipeline graph) lives in ``components/`` and ``pipelines/``.
"""
