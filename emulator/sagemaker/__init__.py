"""Amazon SageMaker hosting: models, endpoint configs, endpoints backed by real model-server processes."""
