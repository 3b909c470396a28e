"""SageMaker Runtime: InvokeEndpoint, routed to the running fleets of the SageMaker backend."""
