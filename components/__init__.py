"""Kubeflow components: one folder each (component.py, README.md, test_<name>.py).

Each component is a lightweight Python component whose body unpacks its artifacts and
calls one function of ``reasoning`` (which never imports kfp). ``build(image)`` in each
``component.py`` returns the component for a given base image, so the pipeline can be
compiled for any registry and tag.
"""
