"""KFP components: thin typed wrappers over ``customer_classifier.jobs``, one file each.

Each runs as a lightweight Python component in the project's component image
(``images/components.Dockerfile``), where the package is installed; ``kfp.local`` runs
the very same functions in a subprocess of the current environment.
"""
