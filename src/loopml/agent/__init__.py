"""The closed loop: policies (``loopml.yaml``), triggers, retraining from feedback, gated rollouts.

The agent layer sits above serving and monitoring: it reads what they wrote (the prediction log, labels,
alerts) and acts through the Store (deployments, aliases, the audit log), never through a server's memory.
"""
