"""Amazon S3: buckets and objects, bodies stored as files, metadata in SQLite."""
