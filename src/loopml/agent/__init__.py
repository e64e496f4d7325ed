"""The agent: the closed loop. Policies (``loopml.yaml``) name per model the triggers that start a retrain,
the pipeline and its data, the gate and the rollout; the agent runs them, and feedback (logged predictions
with their labels) becomes the data the next model learns from."""
