"""quoteflow's development tools, not shipped in the wheel: the local service stack
(Prefect server, moto S3, fake NetSuite, SMTP sink, approval page), the fakes, the demo
dataset and the demo. ``devstack.cli`` plugs their commands into ``quoteflow``
(see ``quoteflow.cli.plugins``); their dependencies are in the ``dev`` dependency group.
"""
