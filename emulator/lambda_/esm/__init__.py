"""The Kinesis event-source mapping: polling shards, batching, invoking, checkpointing, giving up."""
