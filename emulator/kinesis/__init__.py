"""Amazon Kinesis Data Streams: shards by MD5 hash range, sequence numbers, iterators, retention."""
